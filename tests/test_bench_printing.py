"""The printing benchmark's parts (bench/printing.py) without its timing:
the file it prints is printed as tcpdump prints it, with each option set
it measures, record by record and batch by batch."""
from bench import printing as bp
from printer_compare import assert_file_matches_tcpdump


def test_the_bench_file_prints_as_tcpdump_prints_it(tmp_path):
    path = tmp_path / "printing.pcap"
    bp.make_file(str(path), 600)
    for opts in bp.OPTIONS:
        lines = assert_file_matches_tcpdump(path, opts)
    assert sum(1 for ln in lines if ln.startswith(("0", "1", "2"))) == 600
    assert any("Flags [P.]" in ln for ln in lines) and any("UDP, length" in ln for ln in lines)
