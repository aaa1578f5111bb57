"""The RNN and its training: the corpus, the model's forward and backward pass, the engines that train it (numpy,
numba), synthesis, scoring and the gradient check. Imports nothing of a student's code or of the reports."""
