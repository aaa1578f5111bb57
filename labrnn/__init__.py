"""labrnn: the character-level vanilla RNN lab, as a reproducible report generator."""
__version__ = "0.1.0"

from .corpus import Corpus, CorpusError, load_corpus
from .gradcheck import GradCheck, gradcheck
from .model import init_params, loss_and_grads
from .sample import synthesize
from .train import CheckpointError, Config, ConfigError, Run, Trainer, train
from .rundir import RunDirError, load_run, save_run

__all__ = [
    "CheckpointError", "Config", "ConfigError", "Corpus", "CorpusError", "GradCheck", "Run", "RunDirError",
    "gradcheck", "init_params", "load_corpus", "load_run", "loss_and_grads", "save_run",
    "synthesize", "train", "Trainer",
]
