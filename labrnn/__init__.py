"""labrnn: the character-level vanilla RNN lab, as a reproducible report generator."""
from .version import __version__

from .corpus import Corpus, CorpusError, load_corpus
from .gradcheck import GradCheck, gradcheck
from .model import init_params, loss_and_grads
from .sample import synthesize
from .settings import ConfigError, Settings
from .train import Best, CheckpointError, Run, Sample, Trainer, train
from .rundir import RunDir, RunDirError

__all__ = [
    "Best", "CheckpointError", "ConfigError", "Corpus", "CorpusError", "GradCheck", "Run", "RunDir", "RunDirError",
    "Sample", "Settings", "Trainer", "gradcheck", "init_params", "load_corpus", "loss_and_grads", "synthesize",
    "train",
]
