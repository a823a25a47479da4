"""tcpdump's timestamps (util-print.c's ts_print) from ``(sec, frac_ns)``.

    -t  (0)  14:03:07.123456       local time of day (the default)
    -t  (1)  nothing
    -tt (2)  1700000000.123456     seconds since the epoch
    -ttt (3) 00:00:00.001234       since the previous packet
    -tttt (4) 2023-11-14 14:03:07.123456   local date and time
    -ttttt (5) 00:00:01.001234     since the first packet

``sec`` is any integer and ``frac_ns`` the sub-second part in nanoseconds,
which a damaged pcap record can push past a second.  tcpdump prints what
libpcap hands it, and out-of-range values print as it prints them:

* a pcap record's two fields are signed 32-bit numbers to libpcap, so a
  second or sub-second field of 2^31 or more is negative (the fraction is
  then printed as an unsigned 32-bit number, the seconds as an error);
* libpcap scales the fraction to the printing precision (x1000 from µs,
  /1000 from ns, truncating toward zero) before tcpdump sees it;
* tcpdump 4.99 refuses a time whose seconds have bit 31 set (as a 32-bit
  number) or that localtime() can't convert: "[Error converting time]".

A fraction that is a whole number of microseconds is taken as coming from
a microsecond field, any other as a nanosecond field (a nanosecond pcap
field of 2^31 or more that is a multiple of 1000 is the one case this
can't tell apart, and prints as if it were microseconds).
"""
import time

CONVERSION_ERROR = "[Error converting time]"
_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


def _signed32(v):
    v &= _M32
    return v - (1 << 32) if v & 0x80000000 else v


def libpcap_timeval(sec, frac_ns, nano):
    """The ``(tv_sec, tv_usec)`` tcpdump gets for ``(sec, frac_ns)``, the
    fraction in µs (or ns with ``nano``)."""
    if 0x80000000 <= sec <= _M32:
        tv_sec = sec - (1 << 32)                 # a pcap header's signed field
    else:
        tv_sec = sec & _M64
        if tv_sec >> 63:
            tv_sec -= 1 << 64                    # a 64-bit time_t
    if frac_ns % 1000 == 0 and frac_ns // 1000 <= _M32:
        field = _signed32(frac_ns // 1000)       # a microsecond field
        frac = field * 1000 if nano else field
    else:
        field = _signed32(frac_ns)               # a nanosecond field
        frac = field if nano else int(field / 1000)
    return tv_sec, frac


class Timestamps:
    """Formats one packet's timestamp prefix (with its trailing space)."""

    __slots__ = ("mode", "nano", "_frac_fmt", "_ref", "_cache_key", "_cache_text", "_date_fmt",
                 "_scale")

    def __init__(self, mode=0, nano=False):
        if not 0 <= mode <= 5:
            raise ValueError("timestamp mode must be 0..5 (-t .. -ttttt)")
        self.mode = mode
        self.nano = nano
        self._frac_fmt = ".%09u" if nano else ".%06u"
        self._scale = 1 if nano else 1000
        self._ref = None
        self._cache_key = None
        self._cache_text = ""
        self._date_fmt = "%Y-%m-%d %H:%M:%S" if mode == 4 else "%H:%M:%S"

    def format(self, sec, frac_ns):
        mode = self.mode
        if mode == 0 or mode == 4:
            if sec == self._cache_key and frac_ns < 1_000_000_000:
                return self._cache_text + self._frac_fmt % (frac_ns // self._scale) + " "
            return self._wall(sec, frac_ns) + " "
        if mode == 1:
            return ""
        tv_sec, frac = libpcap_timeval(sec, frac_ns, self.nano)
        if mode == 2:
            if tv_sec & 0x80000000:
                return CONVERSION_ERROR + " "
            return "%u" % (tv_sec & _M32) + self._frac_fmt % (frac & _M32) + " "
        return self._delta(tv_sec, frac)

    def second_text(self, sec):
        """The part of modes 0, 2 and 4 before the fraction, as bytes, for
        a whole second ``sec`` (None when tcpdump prints an error instead)."""
        tv_sec, _ = libpcap_timeval(sec, 0, self.nano)
        if self.mode == 2:
            return None if tv_sec & 0x80000000 else b"%u" % (tv_sec & _M32)
        text = self._hms(tv_sec, self._date_fmt, time.localtime)
        return None if text is None else text.encode()

    def _hms(self, tv_sec, fmt, convert):
        """strftime of tv_sec, or None when tcpdump can't convert it."""
        if tv_sec & 0x80000000:
            return None
        try:
            return time.strftime(fmt, convert(tv_sec))
        except (OverflowError, OSError, ValueError):
            return None

    def _wall(self, sec, frac_ns):
        tv_sec, frac = libpcap_timeval(sec, frac_ns, self.nano)
        text = self._hms(tv_sec, self._date_fmt, time.localtime)
        if text is None:
            return CONVERSION_ERROR
        if 0 <= frac_ns < 1_000_000_000:
            self._cache_key = sec
            self._cache_text = text
        return text + self._frac_fmt % (frac & _M32)

    def _delta(self, tv_sec, frac):
        """-ttt / -ttttt: tcpdump subtracts (sec, fraction) pairs, borrowing
        one second when the fraction goes negative."""
        tv = (tv_sec, frac)
        ref = self._ref
        if ref is None or ref == (0, 0):
            ref = self._ref = tv
        negative = tv < ref
        a, b = (ref, tv) if negative else (tv, ref)
        dsec = a[0] - b[0]
        dfrac = a[1] - b[1]
        if dfrac < 0:
            dsec -= 1
            dfrac += 1_000_000_000 if self.nano else 1_000_000
        if self.mode == 3:
            self._ref = tv
        text = self._hms(dsec, "%H:%M:%S", time.gmtime)
        text = CONVERSION_ERROR if text is None else text + self._frac_fmt % (dfrac & _M32)
        return ("-" if negative else " ") + text + " "


def format_ts(ts_ns, precision=6):
    """``HH:MM:SS.ffffff`` in local time from nanoseconds since the epoch
    (``precision`` digits after the point, 0-9); tcpdump's default."""
    sec, frac = divmod(int(ts_ns), 1_000_000_000)
    text = time.strftime("%H:%M:%S", time.localtime(sec))
    if precision <= 0:
        return text
    return "%s.%0*d" % (text, precision, frac // 10 ** (9 - precision))
