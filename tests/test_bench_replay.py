"""The replay benchmark's arithmetic (bench/replay.py): pure logic, no traffic."""
from bench import replay as br


def test_gap_errors_count_only_consecutive_frames():
    # frames 0, 1, 2 at 0, 100, 210 µs; frame 3 lost; frame 4 at 400 µs
    frames = [(0, 0), (1, 100_000), (2, 210_000), (4, 400_000)]
    m = br.run_metrics(frames, 5, 100_000, top=False)
    assert (m["delivered"], m["lost"], m["in_order"]) == (4, 1, True)
    assert m["gap_error_median_us"] == 10.0           # |100-100| and |110-100|; the 2 -> 4 gap is skipped
    assert m["achieved_pps"] == round(3 / 400e-6)
    top = br.run_metrics(frames[::-1], 4, 100_000, top=True)
    assert top["in_order"] is False and "gap_error_median_us" not in top


def test_sustained_needs_every_frame_at_the_files_rate():
    ok = {"lost": 0, "achieved_pps": 99_500, "problems": []}
    slow = {"lost": 0, "achieved_pps": 98_000, "problems": []}
    lossy = {"lost": 3, "achieved_pps": 100_000, "problems": ["3 frames lost"]}
    assert br.summarize_point([ok, ok], "100k", 10)["sustained"] is True
    assert br.summarize_point([ok, slow], "100k", 10)["sustained"] is False
    s = br.summarize_point([ok, lossy], "100k", 10)
    assert s["sustained"] is False and s["problems"] == ["3 frames lost"]
    assert "sustained" not in br.summarize_point([ok], "top", 10)
