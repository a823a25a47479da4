"""pyxring's myring backend, run inside the QEMU guest with the module loaded.

Prints "MYRING-PY <name> ok" / "MYRING-PY <name> FAIL <why>" per check and
"MYRING-PY-DONE failures=<n>".  The CLI's pcapng goes back to the host as
gzip+base64 between "MYRING-BLOB-BEGIN <name>" and "MYRING-BLOB-END" lines
(the serial console is the only channel a bare initramfs guest has), where
tshark judges it.
"""
import base64
import gzip
import socket
import struct
import subprocess
import sys
import time
import traceback

failures = 0
CLI_COUNT = 300


def check(name, ok, why=""):
    global failures
    if ok:
        print(f"MYRING-PY {name} ok", flush=True)
    else:
        failures += 1
        print(f"MYRING-PY {name} FAIL {why}", flush=True)


def send_blob(name, data):
    print(f"MYRING-BLOB-BEGIN {name}", flush=True)
    text = base64.b64encode(gzip.compress(data, 6)).decode()
    for i in range(0, len(text), 76):
        sys.stdout.write(text[i:i + 76] + "\n")
    print("MYRING-BLOB-END", flush=True)


def synth_seq(pkt):
    """Sequence number the module put in a synthetic frame's UDP payload."""
    return struct.unpack_from(">Q", pkt.copy(), 42)[0]


def drain(src, until, seqs, timeout_ms=50):
    while time.monotonic() < until:
        with src.batch(timeout_ms) as b:
            if len(b) == 0 and not src.stats()["running"]:
                return
            seqs.extend(synth_seq(p) for p in b)


def test_cli():
    """The real command line, as a user would type it."""
    out = "/tmp/cli.pcapng"
    r = subprocess.run([sys.executable, "-m", "pyxring", "capture", "myring", "-w", out,
                        "-c", str(CLI_COUNT), "--rate", "2000"],
                       capture_output=True, text=True, timeout=60)
    check("cli-exit-0", r.returncode == 0, f"rc={r.returncode} stderr={r.stderr.strip()[-300:]!r}")
    check("cli-count", f"{CLI_COUNT} packets captured" in r.stderr, repr(r.stderr[-300:]))
    with open(out, "rb") as f:
        data = f.read()
    send_blob("cli.pcapng", data)


def cli(*args):
    return [sys.executable, "-m", "pyxring", "capture", "myring", *args]


def wait_listening(proc, timeout=30):
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "listening on" in line or not line:
            break
    return "listening on" in line


def test_cli_abuse():
    """The CLI killed with SIGKILL mid-capture leaves the device usable; a
    second capture while one runs gets one line and exit status 1, and the
    first is unharmed."""
    first = subprocess.Popen(cli("-w", "/tmp/killed.pcapng", "--rate", "20000"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        check("cli-first-listening", wait_listening(first), "no 'listening on' line")
        second = subprocess.run(cli("-c", "5"), capture_output=True, text=True, timeout=60)
        lines = second.stderr.strip().splitlines()
        check("cli-second-busy-one-line",
              second.returncode == 1 and len(lines) == 1 and "busy" in lines[0]
              and "Traceback" not in second.stderr,
              f"rc={second.returncode} stderr={second.stderr[-300:]!r}")
        check("cli-first-still-running", first.poll() is None, f"exited {first.returncode}")
        first.kill()                              # SIGKILL, with the ring mapped
        first.wait(timeout=30)
        check("cli-killed", first.returncode == -9, f"rc={first.returncode}")
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    after = subprocess.run(cli("-c", "50", "-w", "/tmp/after-kill.pcapng"),
                           capture_output=True, text=True, timeout=60)
    check("cli-after-kill", after.returncode == 0 and "50 packets captured" in after.stderr
          and "0 packets dropped by kernel" in after.stderr,
          f"rc={after.returncode} stderr={after.stderr[-300:]!r}")


def test_overflow():
    """Loss is exact: packets read + dropped (from DROP records) == produced."""
    import pyxring.myring as myring
    seqs = []
    with myring.open("myring", rate=100000) as src:
        time.sleep(0.4)                      # nobody reads: the ring overflows
        drain(src, time.monotonic() + 0.3, seqs)
        src.stop()
        drain(src, time.monotonic() + 2.0, seqs)
        for _ in range(3):                   # the DROP owed after stop comes on poll
            drain(src, time.monotonic() + 0.1, seqs)
        st = src.stats()
    print(f"MYRING-INFO py-overflow {st}", flush=True)
    check("py-overflow-dropped", st["dropped"] > 0 and st["drop_records"] > 0, str(st))
    check("py-overflow-exact", len(seqs) + st["dropped"] == st["produced"] and st["lost_pending"] == 0,
          f"read={len(seqs)} dropped={st['dropped']} produced={st['produced']}")
    increasing = all(a < b for a, b in zip(seqs, seqs[1:]))
    missing = st["produced"] - len(seqs)
    check("py-overflow-seq-gaps", increasing and missing == st["dropped"],
          f"increasing={increasing} missing={missing} dropped={st['dropped']}")


def test_filter():
    import pyxring.myring as myring
    with myring.open("myring", rate=5000, filter="udp dst port 9999") as src:
        with src.batch(2000) as b:
            n_match = len(b)
    with myring.open("myring", rate=5000, filter="tcp") as src:
        with src.batch(300) as b:
            n_tcp = len(b)
        st = src.stats()
    check("py-filter-match", n_match > 0, "udp dst port 9999 matched nothing")
    check("py-filter-reject", n_tcp == 0 and st["filtered"] > 0, f"tcp matched {n_tcp}, {st}")


def test_netfilter():
    """Real packets: UDP to the guest's loopback, copied at PRE_ROUTING."""
    import pyxring.myring as myring
    got = []
    with myring.open("myring", mode="netfilter", filter="udp dst port 5555") as src:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(20):
            s.sendto(b"myring-nf-%03d" % i, ("127.0.0.1", 5555))
        s.close()
        deadline = time.monotonic() + 3
        while len(got) < 20 and time.monotonic() < deadline:
            with src.batch(100) as b:
                got.extend(p.copy() for p in b)
    payloads = sorted(g[14 + 28:] for g in got)
    check("py-netfilter", payloads == [b"myring-nf-%03d" % i for i in range(20)],
          f"{len(got)} packets: {payloads[:3]}")


def test_errors():
    import pyxring.myring as myring
    from pyxring.errors import ConfigError, ResourceBusy
    with myring.open("myring", rate=100) as src:
        try:
            myring.open("myring")
            check("py-second-open-busy", False, "second open succeeded")
        except ResourceBusy:
            check("py-second-open-busy", True)
    for kwargs in ({"rate": 0}, {"record_size": 10}, {"mode": "bogus"}, {"direction": "out"},
                   {"wm_high": 4096, "wm_low": 8192}):
        try:
            myring.open("myring", **kwargs).close()
            check(f"py-bad-{next(iter(kwargs))}", False, f"{kwargs} accepted")
        except ConfigError:
            check(f"py-bad-{next(iter(kwargs))}", True)


def test_asyncio():
    """asyncio (pyxring.aio): the device waits in the event loop.  Idle (the
    producer not started) the loop stays free and cool; then every record
    arrives, in sequence, while a 10 ms ticker keeps its schedule."""
    import asyncio
    import threading
    from pyxring.myring import MyringSource

    async def main():
        loop = asyncio.get_running_loop()
        late = []

        async def tick():
            due = loop.time() + 0.01
            while True:
                await asyncio.sleep(max(0.0, due - loop.time()))
                late.append(loop.time() - due)
                due += 0.01

        ticker = loop.create_task(tick())
        seqs = []
        async with MyringSource("/dev/myring", rate=5000, start=False) as src:
            threads = threading.active_count()
            stream = src.abatches()
            cpu0 = time.process_time()
            try:
                await asyncio.wait_for(stream.__anext__(), 1.0)
                idle_batch = True
            except asyncio.TimeoutError:
                idle_batch = False
            idle_cpu, idle_late = time.process_time() - cpu0, list(late)
            src.start()
            async for batch in stream:
                seqs.extend(synth_seq(p) for p in batch)
                if len(seqs) >= 2000:
                    break
            st = src.stats()
        ticker.cancel()
        return seqs, st, idle_batch, idle_cpu, idle_late, late, threads

    seqs, st, idle_batch, idle_cpu, idle_late, late, threads = \
        asyncio.run(asyncio.wait_for(main(), 60))
    print(f"MYRING-INFO py-asyncio records={len(seqs)} idle_cpu={idle_cpu:.3f} "
          f"max_late={max(late):.3f} ticks={len(late)} threads={threads}", flush=True)
    # a busy loop would take the whole second; emulation makes each tick dear
    check("py-asyncio-idle", not idle_batch and idle_cpu < 0.6 and len(idle_late) >= 20
          and threads == 1, f"batch={idle_batch} cpu={idle_cpu:.3f} ticks={len(idle_late)} "
          f"threads={threads}")
    check("py-asyncio-count", len(seqs) >= 2000 and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
          and st["dropped"] == 0, f"{len(seqs)} records, dropped {st['dropped']}")
    check("py-asyncio-ticker", max(late) < 0.5, f"max lateness {max(late):.3f} s")


def main():
    for test in (test_cli, test_cli_abuse, test_overflow, test_filter, test_netfilter, test_errors,
                 test_asyncio):
        try:
            test()
        except Exception:
            check(test.__name__, False, traceback.format_exc().replace("\n", " | "))
    print(f"MYRING-PY-DONE failures={failures}", flush=True)


if __name__ == "__main__":
    main()
