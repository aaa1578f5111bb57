"""My vanilla RNN for the lab: labrnn checks, diagnoses, trains and reports it.

From the directory that holds this file (labrnn reads --model, --text and --data from the directory it runs in,
and writes the report to reports/<run>/report.html there; `labrnn new-model` printed these commands in full):

    check it:    LABRNN gradcheck --model THIS_FILE
    train it:    LABRNN train --model THIS_FILE --steps 20000
    report it:   LABRNN report --model THIS_FILE

The check sets your gradients against numerical ones from your own loss, and your loss and gradients against
labrnn's; the report trains your function with AdaGrad (labrnn clips the gradients) and shows what it learned.

labrnn calls loss_and_grads in a confined process of its own: what print() writes is kept and shown in the
report (escaped), not on the terminal.  A submission is this one file: it may import numpy and the standard
library, not modules beside it (they are not importable) and not labrnn (then it is not graded as your own).
"""
import numpy as np


def loss_and_grads(params, x, y, h0):
    """The loss of one sequence, its gradients, and the last hidden state.

    params  a dict of numpy float arrays:
              W (m, m)   hidden to hidden       U (m, K)   input to hidden     b (m,)   hidden bias
              V (K, m)   hidden to output       c (K,)     output bias
    x, y    integer arrays of one length T: the indices of the input characters and of the targets
            (y[t] is the character after x[t]); x_t below is the one-hot vector of x[t], of length K
    h0      the hidden state before the first character, shape (m,)

    The lab's equations, for t = 1..T:

        a_t = W h_{t-1} + U x_t + b
        h_t = tanh(a_t)
        o_t = V h_t + c
        p_t = softmax(o_t)
        loss = - sum_t log p_t[y_t]          (summed over the sequence, natural log)

    Return (loss, grads, h_last):
        loss    a float
        grads   a dict with exactly the keys "W", "U", "V", "b", "c", each the gradient of the loss with respect
                to that parameter, with its shape; unclipped (labrnn clips to [-clip, clip] before each update)
        h_last  h_T, shape (m,): labrnn passes it back as h0 of the next sequence
    """
    raise NotImplementedError("write the forward pass (a_t, h_t, o_t, p_t, loss) and back-propagation "
                              "through time, then return loss, grads, h_last")
