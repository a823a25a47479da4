"""Notices and warnings: one plain line each, and never a fallback notice
before an error the fallback could not cure."""
import subprocess

from conftest import ROOT, pyxring_cmd
from unprivileged import as_nobody, readable_copy  # noqa: F401 (a fixture)


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


def test_no_fallback_notice_before_a_permission_error(lab, readable_copy):
    # -Q in picks AF_XDP, which needs privilege; so does the tpacket fallback,
    # so the user gets the one error, not a notice about a fallback that fails
    proc = lab.run_b(as_nobody(readable_copy, "capture", lab.if_b, "-Q", "in"), check=False, cwd="/")
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    assert err.splitlines() == [f"pyxring: opening an AF_PACKET socket for {lab.if_b}: Operation "
                                f"not permitted (run as root or grant CAP_NET_RAW/CAP_NET_ADMIN)"]


def test_no_fallback_notice_before_a_missing_interface(capsys):
    from pyxring.cli import main
    assert main(["capture", "nosuchif0", "-Q", "in"]) == 1
    assert capsys.readouterr().err.splitlines() == ["pyxring: no such interface: nosuchif0"]


def test_fallback_notice_when_the_fallback_works(lab):
    # a filter the XDP translator can't run (ifindex): auto falls back, and says so once
    code, err = capture_in_lab(lab, "-Q", "in", "-c", "3", "-w", "/dev/null", f"udp and ifindex {lab.ifindex_b}")
    assert code == 0, err
    notices = [ln for ln in err.splitlines() if "backend unavailable" in ln]
    assert len(notices) == 1 and notices[0].endswith("; using tpacket"), err
    assert "3 packets captured" in err
