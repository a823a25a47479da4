"""Shared fixtures.  Privileged tests call ``require_root()``: they skip only
off CI; with CI=true any skip is turned into a failure."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
IS_ROOT = os.geteuid() == 0
# for whole tests: skipped off CI without root; on CI the hook below fails a skip
privileged = pytest.mark.skipif(not IS_ROOT and not ON_CI, reason="needs root")


def require_root():
    if os.geteuid() != 0:
        if ON_CI:
            pytest.fail("this test needs root, and CI must run it")
        pytest.skip("needs root (network namespaces, AF_PACKET, BPF)")


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        if ON_CI:
            pytest.fail(f"{name} is not installed (make test installs it)")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if ON_CI and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = f"a skip is not allowed on CI: {rep.longrepr}"


@pytest.fixture
def lab():
    """A fresh veth pair between two throwaway namespaces."""
    require_root()
    from pyxring.netlab import VethPair
    with VethPair(prefix="pxt") as pair:
        yield pair


def wait_listening(proc, timeout=20):
    """Read ``proc``'s stderr until its 'listening on' line: tcpdump and
    pyxring capture both print it once the capture is armed."""
    import time
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if b"listening on" in line or not line:
            break
    assert b"listening on" in line, f"capture did not start: {line!r}"
    return line


def pyxring_cmd(*args):
    return [sys.executable, "-m", "pyxring", *args]


def run_pyxring(*args, timeout=60, **kw):
    kw.setdefault("capture_output", True)
    return subprocess.run(pyxring_cmd(*args), timeout=timeout, cwd=ROOT, **kw)


def wait_capturing(lab, proc, timeout=20, sockets=1):
    """Until the example's AF_PACKET sockets (``sockets`` of them) receive on
    if_b (its capture is armed): /proc/net/packet of namespace b lists them
    with the ifindex and R(unning) 1, which the kernel sets once a socket's
    hook is in place."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r.split() for r in
                lab.run_b(["cat", "/proc/net/packet"]).stdout.decode().splitlines()[1:]]
        if sum(len(r) > 5 and r[4] == str(lab.ifindex_b) and r[5] == "1" for r in rows) >= sockets:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the example never started capturing")
