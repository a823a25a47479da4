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


@pytest.mark.parametrize("argv,message", [
    (["-B", "0"], "invalid packet buffer size 0"),
    (["-B", "-8"], "invalid packet buffer size -8"),
    (["-B", "lots"], "invalid packet buffer size lots"),
    (["-B", "2"], "-B 2: smaller than one ring block"),
    (["-B", "1024", "--block-size", "4096", "--block-count", "4"], "-B 1024 contradicts --block-size 4096"),
    (["-B", "64", "--block-count", "32"], "-B 64 holds fewer than --block-count 32"),
    (["-y", "NOT_A_LINKTYPE"], "invalid data link type NOT_A_LINKTYPE"),
    (["-j", "sundial"], "invalid time stamp type sundial"),
    (["--time-stamp-precision", "pico"], "invalid choice: 'pico'"),
    (["--time-stamp-precision", "nano", "--time-precision", "us"], "contradicts --time-precision us"),
    (["--duration", "0"], "duration must be a positive number of seconds, not 0"),
    (["--duration", "-3"], "duration must be a positive number of seconds, not -3"),
    (["--duration", "nan"], "duration must be a positive number of seconds, not nan"),
    (["--duration", "soon"], "invalid duration 'soon'"),
    (["-F", "/nonexistent/filter"], "can't open /nonexistent/filter: No such file or directory"),
    (["-Z", "no-such-user-here"], "-Z no-such-user-here: no such user"),
    (["-Z", "nobody", "--xdp-replace"], "-Z and --xdp-replace"),
    (["--immediate-mode", "--block-timeout", "100"], "--immediate-mode contradicts --block-timeout 100"),
    (["-i", "lo", "--format", "pcap", "-w", "/dev/null"], "--format pcap can't tell interfaces apart"),
    (["-i", "nosuchif0"], "an interface is given twice"),
    (["-c", "0"], "count must be positive"),
    (["-s", "-1"], "snaplen must be between 1 and 262144"),
])
def test_bad_capture_values_are_one_line_usage_errors(capsys, argv, message):
    status = main(["capture", "-i", "nosuchif0", *argv])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE, err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_any_refuses_the_xdp_backend(capsys):
    assert main(["capture", "-i", "any", "--backend", "xdp"]) == ExitStatus.USAGE
    err = capsys.readouterr().err
    assert "-i any captures with the tpacket backend only" in err and len(err.splitlines()) == 1


def test_bad_xdp_buffer_for_an_xdp_capture_only(capsys):
    # 64 KiB is a fine TPACKET ring but too small a UMEM: only xdp refuses it
    assert main(["capture", "-i", "nosuchif0", "-B", "64", "--backend", "xdp"]) == ExitStatus.USAGE
    assert "an AF_XDP UMEM needs at least 64 chunks" in capsys.readouterr().err
    assert main(["capture", "-i", "nosuchif0", "-B", "64", "--backend", "tpacket"]) == ExitStatus.ERROR
    assert "no such interface: nosuchif0" in capsys.readouterr().err


def opened_source(lab, *argv):
    """The source ``pyxring capture -i IF_B ARGV`` opens (in-process, in the lab)."""
    from pyxring.cli import build_parser, capture
    args = build_parser().parse_args(["capture", "-i", lab.if_b, "-w", "/dev/null", *argv])
    seen = {}

    def ready(src):
        seen["src"] = src
        seen["stats"] = (src.linktype, getattr(src, "block_size", None),
                         getattr(src, "block_count", None), getattr(src, "block_timeout_ms", None),
                         getattr(src, "frame_count", None), getattr(src, "frame_size", None),
                         getattr(src, "rx_ring_size", None), getattr(src, "batch_size", None))
        raise KeyboardInterrupt
    with lab.enter_b():
        with pytest.raises(KeyboardInterrupt):
            capture.run(args, ready=ready)
    return seen["stats"]


def test_buffer_size_sizes_the_ring_and_the_umem(lab):
    require_root()
    # tpacket: -B KiB of blocks, at least 8 of them, at most 1 MiB each
    _, bs, bc, *_ = opened_source(lab, "-B", "4096", "--backend", "tpacket")
    assert (bs, bc) == (1 << 19, 8)
    _, bs, bc, *_ = opened_source(lab, "-B", "256", "--backend", "tpacket")
    assert bs * bc == 256 * 1024 and bc >= 8
    _, bs, bc, *_ = opened_source(lab, "-B", "1024", "--block-size", "65536", "--backend", "tpacket")
    assert (bs, bc) == (65536, 16)
    # xdp: -B KiB of UMEM chunks (a power of two), the RX ring and batch following
    *_, frames, fsize, rx, batch = opened_source(lab, "-B", "8192", "--backend", "xdp")
    assert (frames, fsize, rx, batch) == (4096, 2048, 2048, 2048)
    *_, frames, fsize, rx, batch = opened_source(lab, "-B", "8192", "--xdp-rx-ring", "512",
                                                 "--backend", "xdp")
    assert (frames, rx, batch) == (4096, 512, 512)


def test_immediate_mode_shortens_the_waits(lab):
    require_root()
    assert opened_source(lab, "--immediate-mode", "--backend", "tpacket")[3] == 1
    assert opened_source(lab, "--backend", "tpacket")[3] == 100
    from pyxring.cli import build_parser, capture_options
    args = build_parser().parse_args(["capture", "-i", "x", "--immediate-mode"])
    assert capture_options.xdp_options(args)["wait"] == "poll"
