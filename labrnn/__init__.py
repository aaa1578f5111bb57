"""labrnn: the character-level vanilla RNN lab, as a reproducible report generator."""
from labrnn.report.rundir import RunDir, RunDirError
from labrnn.rnn.corpus import Corpus, CorpusError, load_corpus
from labrnn.rnn.gradcheck import GradCheck, gradcheck
from labrnn.rnn.model import init_params, loss_and_grads
from labrnn.rnn.sample import synthesize
from labrnn.rnn.train import Best, CheckpointError, Run, Sample, Trainer, train
from labrnn.settings import ConfigError, Settings
from labrnn.version import __version__

__all__ = [
    "Best", "CheckpointError", "ConfigError", "Corpus", "CorpusError", "GradCheck", "Run", "RunDir", "RunDirError",
    "Sample", "Settings", "Trainer", "gradcheck", "init_params", "load_corpus", "loss_and_grads", "synthesize",
    "train",
]
