"""Running pyxring as a really unprivileged user (nobody, no capabilities),
wherever the checkout lives: a clone in /root (mode 0700) can't be read by
nobody, so the package, its built extensions and the XDP object are copied
to a world-readable directory first, and the base interpreter (not the
venv's, which may live in the checkout too) runs them."""
import os
import shutil
import sys
import tempfile

import pytest

from conftest import ROOT, require_tool


@pytest.fixture(scope="session")
def readable_copy():
    top = tempfile.mkdtemp(prefix="pyxring-unpriv-")
    try:
        shutil.copytree(os.path.join(ROOT, "pyxring"), os.path.join(top, "pyxring"),
                        ignore=shutil.ignore_patterns("*.c", "__pycache__", "*.pyc"))
        obj = os.path.join(ROOT, "xdp_prog", "pyxring_xdp.o")
        if os.path.exists(obj):
            os.makedirs(os.path.join(top, "xdp_prog"))
            shutil.copy(obj, os.path.join(top, "xdp_prog"))
        for d, dirs, files in os.walk(top):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_nobody(copy, *args):
    """The command line running ``python -m pyxring ARGS`` as nobody with no
    capability at all, from ``copy``."""
    setpriv = require_tool("setpriv")
    python = os.path.realpath(sys.executable)
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--", "env", f"PYTHONPATH={copy}", "HOME=/nonexistent",
            python, "-s", "-m", "pyxring", *args]
