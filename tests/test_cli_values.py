"""Bad option values are usage errors (one line, exit 2) before anything is
opened; values derived from others follow what the user set."""
import pytest

from conftest import require_root
from pyxring.cli import ExitStatus, main

RING_OPTIONS = ["--block-size", "--block-count", "--frame-size", "--block-timeout",
                "--xdp-frames", "--xdp-rx-ring", "--xdp-headroom"]


@pytest.mark.parametrize("option", RING_OPTIONS)
@pytest.mark.parametrize("value", ["-1", str(2 ** 40), str(2 ** 64), str(-2 ** 70), "12k", ""])
def test_bad_ring_values_are_usage_errors(capsys, option, value):
    # the interface does not exist: the value must be refused before it is looked up
    status = main(["capture", "nosuchif0", option, value])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert option in err and (value in err if value else True), err


@pytest.mark.parametrize("kwargs,message", [
    ({"block_size": -1}, "block size -1"),
    ({"block_count": 2 ** 40}, "block count 1099511627776"),
    ({"frame_size": 2 ** 64}, "frame size 18446744073709551616"),
    ({"block_timeout_ms": -5}, "block timeout -5"),
    ({"block_size": "big"}, "block size must be a whole number"),
])
def test_bad_tpacket_values_from_python_are_config_errors(kwargs, message):
    from pyxring.errors import ConfigError
    from pyxring.tpacket import TPacketSource
    with pytest.raises(ConfigError, match=message):
        TPacketSource("lo", **kwargs)


@pytest.mark.parametrize("kwargs,message", [
    ({"frame_count": -1}, "UMEM frame count -1"),
    ({"rx_ring_size": 2 ** 40}, "RX ring size 1099511627776"),
    ({"rx_ring_size": 1000}, "RX ring size 1000 must be a power of two"),
    ({"headroom": 2 ** 64}, "UMEM headroom 18446744073709551616"),
    ({"frame_size": 3000}, "UMEM frame size 3000"),
])
def test_bad_xdp_values_from_python_are_config_errors(kwargs, message):
    from pyxring import xdp
    from pyxring.errors import ConfigError
    with pytest.raises(ConfigError, match=message):
        xdp.resolve_options(kwargs)


def test_batch_size_follows_the_rx_ring_the_user_chose():
    from pyxring import xdp
    assert xdp.resolve_options({"rx_ring_size": 512})["batch_size"] == 512
    assert xdp.resolve_options({})["batch_size"] == xdp.DEFAULTS["batch_size"]
    # one the user wrote stays theirs, contradiction included
    assert xdp.resolve_options({"rx_ring_size": 512, "batch_size": 64})["batch_size"] == 64


def test_small_rx_ring_captures(lab):
    # --xdp-rx-ring 512 used to be refused over an internal batch size of 4096
    require_root()
    import subprocess
    from conftest import ROOT, pyxring_cmd, wait_listening
    proc = lab.popen("b", pyxring_cmd("capture", lab.if_b, "--backend", "xdp", "--xdp-rx-ring", "512",
                                      "-c", "30", "-w", "/dev/null", "udp"),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        wait_listening(proc)
        lab.send_frames(lab.udp_frames(30))
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert b"30 packets captured" in err
