"""A student's code: the sandbox that runs their file confined (sandbox, child, confine), the diagnosis of their
gradients, the grader that trains with them, and the grouping of identical submissions. Above `labrnn.rnn`."""
