"""The writer benchmark's reading of perf trace's summary and its table
(bench/writer.py): pure logic, no traffic."""
from bench import writer as bw

PERF_SUMMARY = """
 Summary of events:

 python3 (4242), 1906 events, 99.9%

   syscall            calls  errors  total       min       avg       max       stddev
                                     (msec)    (msec)    (msec)    (msec)        (%)
   --------------- --------  ------ -------- --------- --------- ---------     ------
   io_uring_enter       301      0    41.201     0.004     0.137    15.647     37.83%
   write                  3      0     0.090     0.011     0.030     0.061     51.02%
   poll                 600      0  9000.000     1.000    15.000   250.000      1.00%
"""


def test_the_longest_write_side_call_ignores_the_waits_for_packets():
    assert bw.perf_max_ms(PERF_SUMMARY) == 15.647
    assert bw.perf_max_ms("no summary at all") is None


def test_the_table_has_one_row_per_tool_and_point(tmp_path):
    def run(tool, traced, **kw):
        return {"tool": tool, "traced": traced, "problems": [], "point": "50k", **kw}
    raw = [run("pyxring-uring", False, achieved_pps=50_000, captured=100, kernel_dropped=0,
               cpu_us_per_pkt=0.7, cpu_ms_per_mb=0.46, longest_wait_ms=1.5, full_waits=0),
           run("pyxring-uring", True, longest_write_syscall_ms=0.09),
           run("tcpdump", False, achieved_pps=49_000, captured=100, kernel_dropped=0,
               cpu_us_per_pkt=1.8, cpu_ms_per_mb=1.2),
           run("tcpdump", True, longest_write_syscall_ms=8.4)]
    results = {"started": "now", "quick": True, "runs": 1, "machine": "m", "kernel": "k",
               "raw": raw, "points": {"50k": {}}}
    for r in raw:
        results["points"]["50k"].setdefault(r["tool"], []).append(r)
    path = tmp_path / "w.md"
    bw.write_markdown(results, path)
    rows = [ln for ln in path.read_text().splitlines() if ln.startswith("| pyxring") or
            ln.startswith("| tcpdump")]
    assert rows == ["| pyxring-uring | 50k | 50,000 | 100 | 0 | 0.700 | 0.460 | 0.09 | 1.5 | 0 |",
                    "| tcpdump | 50k | 49,000 | 100 | 0 | 1.800 | 1.200 | 8.40 | – | – |"]
