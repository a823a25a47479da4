"""``pyxring read IN -w OUT EXPR`` and ``--count``, judged by tcpdump doing
the same (``tcpdump -r IN -w OUT EXPR``, ``tcpdump --count -r IN``)."""
import os
import subprocess

import pytest

from conftest import ROOT, require_tool, run_pyxring

CORPUS = os.path.join(ROOT, "tests", "corpus")


def tcpdump(*args):
    r = subprocess.run([require_tool("tcpdump"), *args], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.parametrize("name", ["tcpdump_us.pcap", "tcpdump_ns.pcap", "tcpdump_snap96.pcap",
                                  "editcap_pcapng.pcapng"])
@pytest.mark.parametrize("extra", [[], ["--nano"]])
@pytest.mark.parametrize("expr", [[], ["udp"], ["icmp", "or", "arp"]])
def test_write_selects_and_writes_what_tcpdump_writes(tmp_path, name, extra, expr):
    src = os.path.join(CORPUS, name)
    ours, theirs = tmp_path / "ours.pcap", tmp_path / "theirs.pcap"
    r = run_pyxring("-r", src, "-w", str(ours), *extra, *expr)
    assert r.returncode == 0, r.stderr
    tcpdump("-r", src, "-w", str(theirs), *extra, *expr)
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.parametrize("args", [[], ["udp"], ["-c", "3"], ["-c", "1", "udp"]])
def test_count_prints_what_tcpdump_prints(args):
    src = os.path.join(CORPUS, "tcpdump_us.pcap")
    r = run_pyxring("read", src, "--count", *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == tcpdump("--count", "-r", src, *args).stdout


def test_several_link_types_need_pcapng(tmp_path):
    src = os.path.join(CORPUS, "mergecap_three_links.pcapng")
    r = run_pyxring("read", src, "-w", str(tmp_path / "x.pcap"))
    assert r.returncode == 2
    assert r.stderr.decode().splitlines()[-1].endswith("use --format pcapng")
    out = tmp_path / "x.pcapng"
    r = run_pyxring("read", src, "-w", str(out), "--format", "pcapng")
    assert r.returncode == 0, r.stderr

    def fields(path):
        r = subprocess.run([require_tool("tshark"), "-r", str(path), "-T", "fields", "-e",
                            "frame.interface_id", "-e", "frame.encap_type", "-e", "frame.len",
                            "-e", "frame.time_epoch"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode().splitlines()
    theirs = fields(src)
    assert len({ln.split()[1] for ln in theirs}) == 3
    assert fields(out) == theirs
