"""One report: the run directory and its cache, the run's life (run), the notebooks (execute, papermill_engine),
rendering (render, plots; degenerate outcomes stated; public: nothing of the machine in a shared file), the hand-in
(handin), export to HTML and PDF, and the pipeline of named steps. Above `labrnn.rnn` and `labrnn.student`."""
