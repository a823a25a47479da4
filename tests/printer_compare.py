"""Helpers for judging pyxring's printer by the installed tcpdump: the same
file, the same options, every line of the output compared (the hex dump
lines tcpdump prints below frames included)."""
import difflib
import io
import subprocess

from conftest import require_tool

from pyxring.file import open_file
from pyxring.printer import Printer
from pyxring.reader import open_reader

# Every printing option kind, alone and in the combinations people type.
OPTION_SETS = [
    [], ["-e"], ["-q"], ["-qq"], ["-v"], ["-vv"], ["-vvv"], ["-S"], ["-x"], ["-xx"], ["-X"],
    ["-XX"], ["-A"], ["-AA"], ["-t"], ["-tt"], ["-ttt"], ["-tttt"], ["-ttttt"], ["--nano"],
    ["-#"], ["-e", "-v"], ["-q", "-e"], ["-v", "-x"], ["-e", "-XX"], ["-S", "-v"],
    ["-ttt", "--nano"], ["-e", "-q", "-v"],
]


def option_id(opts):
    return " ".join(opts) or "default"


def printer_kwargs(opts):
    """The Printer arguments for tcpdump command-line options."""
    kw = {"link": 0, "quiet": 0, "verbose": 0, "hex": 0, "hex_ascii": 0, "ascii": 0,
          "timestamps": 0}
    for o in opts:
        if o == "--nano":
            kw["nano"] = True
        elif o == "-#":
            kw["number"] = True
        elif o == "-S":
            kw["absolute_seq"] = True
        else:
            letters = o[1:]
            key = {"e": "link", "q": "quiet", "v": "verbose", "x": "hex", "X": "hex_ascii",
                   "A": "ascii", "t": "timestamps"}[letters[0]]
            kw[key] += len(letters)
    return kw


def tcpdump_lines(path, opts):
    require_tool("tcpdump")
    args = [o.replace("--nano", "--time-stamp-precision=nano") for o in opts]
    out = subprocess.run(["tcpdump", "-nn", "-r", str(path), *args], capture_output=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout.decode("latin-1").split("\n")


def our_lines(path, opts, fast=True):
    """Record by record (``open_reader``, ``print_record``)."""
    buf = io.StringIO()
    printer = Printer(buf, fast=fast, **printer_kwargs(opts))
    with open_reader(str(path)) as rd:
        for rec in rd:
            printer.print_record(rec)
    printer.flush()
    return buf.getvalue().split("\n")


def our_batch_lines(path, opts):
    """Batch by batch from the file source (``print_batch``, the C loop),
    as ``pyxring read`` prints."""
    buf = io.StringIO()
    printer = Printer(buf, **printer_kwargs(opts))
    with open_file(str(path)) as src:
        for batch in src.batches():
            printer.print_batch(batch)
    return buf.getvalue().split("\n")


def assert_same_lines(ours, theirs, what=""):
    if ours != theirs:
        diff = list(difflib.unified_diff(theirs, ours, "tcpdump", "pyxring", n=1,
                                         lineterm=""))
        raise AssertionError(f"{what}: {len(diff)} diff lines\n" + "\n".join(diff[:60]))


def assert_file_matches_tcpdump(path, opts):
    """Every way: record by record with the C fast path and with the Python
    printers alone, and batch by batch from the file source."""
    theirs = tcpdump_lines(path, opts)
    assert len(theirs) > 1, f"tcpdump printed nothing for {path}"
    assert_same_lines(our_lines(path, opts), theirs, f"{path} {option_id(opts)}")
    assert_same_lines(our_lines(path, opts, fast=False), theirs,
                      f"{path} {option_id(opts)}, Python printers only")
    assert_same_lines(our_batch_lines(path, opts), theirs,
                      f"{path} {option_id(opts)}, print_batch")
    return theirs
