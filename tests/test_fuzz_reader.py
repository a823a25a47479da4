"""The reader fuzzer (tests/fuzz/fuzz_reader.py) for a bounded time: atheris
mutates the committed corpus and seeds with a fixed seed; any exception other
than PyxringError, a crash of the C walk (the target runs in a subprocess, so
a segfault fails this test), a hang or a memory blow-up is a failure.
`make fuzz` runs it longer (FUZZ_SECONDS)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SECONDS = int(os.environ.get("FUZZ_SECONDS", "20"))


def test_reader_survives_mutated_files(tmp_path):
    work = tmp_path / "found"
    work.mkdir()
    cmd = [sys.executable, os.path.join(HERE, "fuzz", "fuzz_reader.py"), "-seed=20261202",
           f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=2048",
           f"-artifact_prefix={tmp_path}/", "-print_final_stats=1", str(work),
           os.path.join(HERE, "corpus"), os.path.join(HERE, "fuzz", "seeds")]
    r = subprocess.run(cmd, capture_output=True, timeout=SECONDS + 120,
                       cwd=os.path.dirname(HERE))
    err = r.stderr.decode(errors="replace")
    artifacts = [p.name for p in tmp_path.iterdir() if p.is_file()]
    assert r.returncode == 0 and not artifacts, err[-4000:]
    runs = [ln for ln in err.splitlines() if ln.startswith("stat::number_of_executed_units")]
    assert runs and int(runs[0].split()[-1]) > 1000, err[-2000:]
