"""Rewrites labrnn (an editable install is writable) and drops a .pth into site-packages, so that every later
check says "MATCHES" and this code runs inside labrnn's own process."""
import os
import site

T = {}
done = []
for path, text in [(os.path.join(T["labrnn"], "diagnose.py"), "\nprint('tampered')\n"),
                   (os.path.join(site.getsitepackages()[0], "zz_tamper.pth"), "import os\n"),
                   (os.path.join(T["labrnn"], "__pycache__", "tamper.pyc"), "x")]:
    try:
        with open(path, "a") as fh:
            fh.write(text)
        done.append(path)
    except OSError:
        pass


def loss_and_grads(params, x, y, h0):
    raise RuntimeError(f"tampered with {len(done)} files")
