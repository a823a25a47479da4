"""Small consumer programs the benchmark runs beside tcpdump & co.

Each prints ``READY`` on stderr once it is receiving and, when stopped by
SIGINT or SIGTERM, one line ``RESULT key=value ...`` on stdout with at
least ``captured`` (and ``dropped`` / ``received`` when it knows them).
"""
import signal
import sys


def stop_on_term():
    """SIGTERM ends the loop the same way Ctrl-C does."""
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)


def ready():
    sys.stderr.write("READY\n")
    sys.stderr.flush()


def result(**fields):
    sys.stdout.write("RESULT " + " ".join(f"{k}={v}" for k, v in fields.items()) + "\n")
    sys.stdout.flush()
