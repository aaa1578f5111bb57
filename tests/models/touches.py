"""A correct model that leaves a trace of the process that imported it: a file named after its pid in the
directory $LABRNN_TEST_TRACE, so a test can tell that only the child ran it."""
import os

from labrnn.model import loss_and_grads  # noqa: F401

open(os.path.join(os.environ["LABRNN_TEST_TRACE"], str(os.getpid())), "w").close()
