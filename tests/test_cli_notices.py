"""Notices and warnings: one plain line each, and never a fallback notice
before an error the fallback could not cure."""
import subprocess

from conftest import ROOT, pyxring_cmd


def capture_in_lab(lab, *args, frames=3):
    """Run a capture in the lab's namespace b; (status, all of stderr)."""
    proc = lab.popen("b", pyxring_cmd("capture", lab.if_b, *args), stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, cwd=ROOT)
    head = b""
    try:
        while b"listening on" not in head:
            line = proc.stderr.readline()
            if not line:
                break
            head += line
        assert b"listening on" in head, head
        lab.send_frames(lab.udp_frames(frames))
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, (head + err).decode()


def test_generic_mode_warning_is_one_plain_line(lab):
    code, err = capture_in_lab(lab, "--backend", "xdp", "--xdp-mode", "generic", "-c", "3",
                               "-w", "/dev/null", "udp")
    assert code == 0, err
    lines = err.splitlines()
    warning = [ln for ln in lines if "generic XDP mode" in ln]
    assert warning == [f"pyxring: warning: {lab.if_b}: generic XDP mode can't see VLAN tags the "
                       f"driver took out of frames (rx VLAN offload); such frames arrive untagged"], err
    assert "warnings.warn" not in err and "XdpWarning" not in err and ".py:" not in err
