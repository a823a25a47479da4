"""tcpdump's timestamps (util-print.c's ts_print) from ``(sec, frac_ns)``.

``sec`` is any integer, ``frac_ns`` the sub-second part in nanoseconds,
which a damaged pcap record can push past a second (a microsecond field
of 1500000 arrives as 1500000000).  tcpdump sees what libpcap gives it: a
64-bit signed ``time_t`` and a fraction in the chosen precision (µs or
ns), printed as a 32-bit unsigned number; those limits are reproduced so
that out-of-range values print as tcpdump prints them.

    -t  (0)  14:03:07.123456       local time of day (the default)
    -t  (1)  nothing
    -tt (2)  1700000000.123456     seconds since the epoch
    -ttt (3) 00:00:00.001234       since the previous packet
    -tttt (4) 2023-11-14 14:03:07.123456   local date and time
    -ttttt (5) 00:00:01.001234     since the first packet
"""
import time

NEGATIVE = "[timestamp < 1970-01-01 00:00:00 UTC]"
UNCONVERTIBLE = "[localtime() or gmtime() couldn't convert the date and time]"
_M32 = 0xFFFFFFFF


def _time_t(sec):
    """``sec`` as libpcap's signed 64-bit tv_sec."""
    sec &= 0xFFFFFFFFFFFFFFFF
    return sec - (1 << 64) if sec >> 63 else sec


class Timestamps:
    """Formats one packet's timestamp prefix (with its trailing space)."""

    __slots__ = ("mode", "nano", "_unit", "_frac_fmt", "_ref", "_cache_sec", "_cache_text",
                 "_date_fmt")

    def __init__(self, mode=0, nano=False):
        if not 0 <= mode <= 5:
            raise ValueError("timestamp mode must be 0..5 (-t .. -ttttt)")
        self.mode = mode
        self.nano = nano
        self._unit = 1 if nano else 1000
        self._frac_fmt = ".%09u" if nano else ".%06u"
        self._ref = None
        self._cache_sec = None
        self._cache_text = ""
        self._date_fmt = "%Y-%m-%d %H:%M:%S" if mode == 4 else "%H:%M:%S"

    def format(self, sec, frac_ns):
        mode = self.mode
        if mode == 0 or mode == 4:
            if sec == self._cache_sec:
                return self._cache_text + self._frac_fmt % ((frac_ns // self._unit) & _M32) + " "
            return self._wall(sec, frac_ns) + " "
        if mode == 1:
            return ""
        if mode == 2:
            tv_sec = _time_t(sec)
            if tv_sec < 0:
                return NEGATIVE + " "
            return "%u" % (tv_sec & _M32) + self._frac_fmt % ((frac_ns // self._unit) & _M32) + " "
        return self._delta(sec, frac_ns)

    def _wall(self, sec, frac_ns):
        tv_sec = _time_t(sec)
        if tv_sec < 0:
            return NEGATIVE
        try:
            text = time.strftime(self._date_fmt, time.localtime(tv_sec))
        except (OverflowError, OSError, ValueError):
            text = UNCONVERTIBLE
        else:
            self._cache_sec = sec
            self._cache_text = text
        return text + self._frac_fmt % ((frac_ns // self._unit) & _M32)

    def _delta(self, sec, frac_ns):
        """-ttt / -ttttt: tcpdump subtracts (sec, fraction) pairs, borrowing
        one second when the fraction goes negative."""
        tv = (_time_t(sec), frac_ns // self._unit)
        ref = self._ref
        if ref is None or ref == (0, 0):
            ref = self._ref = tv
        if tv < ref:
            negative = True
            a, b = ref, tv
        else:
            negative = False
            a, b = tv, ref
        dsec = a[0] - b[0]
        dfrac = a[1] - b[1]
        if dfrac < 0:
            dsec -= 1
            dfrac += 1_000_000_000 if self.nano else 1_000_000
        if self.mode == 3:
            self._ref = tv
        if dsec < 0:
            text = NEGATIVE
        else:
            try:
                text = time.strftime("%H:%M:%S", time.gmtime(dsec))
            except (OverflowError, OSError, ValueError):
                text = UNCONVERTIBLE
            text += self._frac_fmt % (dfrac & _M32)
        return ("-" if negative else " ") + text + " "


def format_ts(ts_ns, precision=6):
    """``HH:MM:SS.ffffff`` in local time from nanoseconds since the epoch
    (``precision`` digits after the point, 0-9); tcpdump's default."""
    sec, frac = divmod(int(ts_ns), 1_000_000_000)
    text = time.strftime("%H:%M:%S", time.localtime(sec))
    if precision <= 0:
        return text
    return "%s.%0*d" % (text, precision, frac // 10 ** (9 - precision))
