"""One soak run of pyxring's myring backend, inside the QEMU guest.

The consumer is the capture loop of ``pyxring capture`` (batch, write,
release), through the public API, because a soak needs what the CLI does
not do: stop the producer once it has made ``--frames`` records, then
drain the ring to the last record and DROP, so that the module's own count
can be compared with what was captured and dropped.

The pcapng goes to a raw disk (``--out``, the guest's /dev/vda) from byte
0; its length is printed so the host can cut the image and hand the file to
capinfos.  The consumer's RSS is sampled once a second.  Result lines:

    MYRING-SOAK result produced=.. captured=.. dropped=.. filtered=.. received=..
                       drop_records=.. lost_pending=.. file_bytes=.. seconds=..
    MYRING-SOAK rss kib=<comma-separated samples>
    MYRING-SOAK-DONE ok | MYRING-SOAK-DONE FAIL <why>
"""
import argparse
import os
import sys
import time
import traceback


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def soak(args):
    import pyxring.myring as myring
    from pyxring.writers import open_writer
    out = open(args.out, "wb", buffering=0)
    position = os.dup(out.fileno())     # shares the offset: the file's length at the end
    # the writer first: the producer starts when the source opens
    writer = open_writer(out, "pcapng", linktype=1, ifname="myring",
                         ifdescription="pyxring myring backend; guest soak")
    src = myring.open("myring", rate=args.rate, record_size=args.record_size,
                      filter=args.filter or None)
    captured, samples = 0, []
    start = next_sample = time.monotonic()
    stopping = False
    while True:
        batch = src.batch(100)
        try:
            n = len(batch)
            if n:
                writer.write_batch(batch)
                captured += n
        finally:
            batch.release()
        now = time.monotonic()
        if now >= next_sample:
            samples.append(rss_kib())
            next_sample = now + 1.0
        if not stopping and src.stats()["produced"] >= args.frames:
            src.stop()              # records already written stay readable
            stopping = True
        if stopping and n == 0:
            st = src.stats()
            if not st["running"] and not st["lost_pending"]:
                break               # drained: the last record and DROP are read
    samples.append(rss_kib())
    st = src.stats()
    writer.write_stats(received=st["received"], dropped=st["dropped"], delivered=captured)
    writer.close()
    file_bytes = os.lseek(position, 0, os.SEEK_CUR)
    os.close(position)
    src.close()
    os.sync()
    print(f"MYRING-SOAK result produced={st['produced']} captured={captured} "
          f"dropped={st['dropped']} filtered={st['filtered']} received={st['received']} "
          f"drop_records={st['drop_records']} lost_pending={st['lost_pending']} "
          f"kernel_lost={st['lost']} file_bytes={file_bytes} "
          f"seconds={time.monotonic() - start:.1f}", flush=True)
    print(f"MYRING-SOAK rss kib={','.join(map(str, samples))}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--rate", type=int, required=True)
    ap.add_argument("--record-size", type=int, default=64)
    ap.add_argument("--filter", default="")
    ap.add_argument("--out", default="/dev/vda")
    args = ap.parse_args(argv)
    try:
        soak(args)
        print("MYRING-SOAK-DONE ok", flush=True)
    except Exception:
        print("MYRING-SOAK-DONE FAIL " + traceback.format_exc().replace("\n", " | "), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
