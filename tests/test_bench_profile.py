"""The sender profile's attribution of perf symbols to rows
(bench/profile_sender.py): pure logic, no perf run."""
from bench import profile_sender as prof


def row(rows, start):
    return next(v for label, v in rows if label.strip().startswith(start))


def test_bpf_row_counts_jit_programs_not_the_kernel_functions_around_them():
    shares = {"bpf_prog_0123456789abcdef_pyxring_xdp_vlan": 30.0,   # an XDP program
              "bpf_prog_fedcba9876543210": 10.0,                    # a nameless socket filter
              "bpf_prog_run_generic_xdp": 500.0,                    # kernel: runs the program
              "do_xdp_generic": 900.0}
    per = 1e6 / prof.FREQ / 1000                  # µs per sample per packet, 1000 packets
    rows = prof.rows_for(shares, 2000, 1000)
    assert row(rows, "BPF programs") == 40.0 * per
    assert row(rows, "generic XDP") == 900.0 * per
    assert row(rows, "all of CPU 0") == 2000 * per
