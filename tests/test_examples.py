"""The examples in examples/ run as documented."""
import subprocess
import sys
import time

from conftest import ROOT


def test_top_talkers_counts_conversations(lab):
    proc = lab.popen("b", [sys.executable, f"{ROOT}/examples/top_talkers.py", lab.if_b,
                           "-c", "60", "--backend", "tpacket", "udp"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        time.sleep(1.5)        # the capture opens before the traffic starts
        lab.send_frames(lab.udp_frames(40, size=100))
        lab.send_frames(lab.udp_frames(20, size=200, src="b"))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rows = [line.split() for line in out.decode().splitlines()[1:]]
    assert rows[0] == [lab.ip_a, lab.ip_b, "udp", "40", "4000"]
    assert rows[1] == [lab.ip_b, lab.ip_a, "udp", "20", "4000"]
