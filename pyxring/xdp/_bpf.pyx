# distutils: libraries = bpf
# distutils: include_dirs = xdp_prog
"""libbpf binding: load pyxring's XDP program (or the user's object), find
its maps, attach it with a BPF link (gone when the process dies, even by
SIGKILL) or by netlink where links are refused, read its counters.

C calls return ``-errno``; everything is turned into pyxring's exceptions
here by ``raise_errno`` so messages name the interface and the object file.
"""
from libc.errno cimport errno
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memset, strlen
from libc.stdlib cimport malloc, free
from posix.unistd cimport close

from pyxring.includes.libbpf cimport *
from pyxring.includes.if_xdp cimport *

from pyxring.errors import raise_errno, ConfigError, PyxringError

cdef extern from *:
    """
    #include <stdarg.h>
    #include <stdio.h>
    #include <string.h>
    /* libbpf prints through a va_list; keep the last lines (the verifier's
     * verdict) in a buffer so errors can quote them. */
    static char pyxring_bpf_log[16384];
    static size_t pyxring_bpf_log_len;
    static int pyxring_bpf_print(int level, const char *fmt, va_list ap)
    {
        char line[1024];
        int n;
        if (level == 2 /* LIBBPF_DEBUG */)
            return 0;
        n = vsnprintf(line, sizeof(line), fmt, ap);
        if (n < 0)
            return 0;
        if ((size_t)n >= sizeof(line))
            n = sizeof(line) - 1;
        if (pyxring_bpf_log_len + n >= sizeof(pyxring_bpf_log)) {
            /* keep the tail: drop the older half */
            size_t keep = pyxring_bpf_log_len / 2;
            memmove(pyxring_bpf_log, pyxring_bpf_log + pyxring_bpf_log_len - keep, keep);
            pyxring_bpf_log_len = keep;
        }
        memcpy(pyxring_bpf_log + pyxring_bpf_log_len, line, n);
        pyxring_bpf_log_len += n;
        pyxring_bpf_log[pyxring_bpf_log_len] = 0;
        return 0;
    }
    static void pyxring_bpf_log_reset(void)
    { pyxring_bpf_log_len = 0; pyxring_bpf_log[0] = 0; }
    static void pyxring_bpf_install_print(void)
    { libbpf_set_print((libbpf_print_fn_t)pyxring_bpf_print); }
    """
    char *pyxring_bpf_log
    void pyxring_bpf_log_reset()
    void pyxring_bpf_install_print()

pyxring_bpf_install_print()

ATTACH_MODES = {XDP_ATTACHED_NONE: "none", XDP_ATTACHED_DRV: "native",
                XDP_ATTACHED_SKB: "generic", XDP_ATTACHED_MULTI: "multi"}
_MODE_FLAGS = {"native": XDP_FLAGS_DRV_MODE, "generic": XDP_FLAGS_SKB_MODE}

PROG_PLAIN = PYXRING_PROG_PLAIN.decode()
PROG_FRAGS = PYXRING_PROG_FRAGS.decode()
PROG_VLAN = PYXRING_PROG_VLAN.decode()
PROG_VLAN_FRAGS = PYXRING_PROG_VLAN_FRAGS.decode()


def _log_tail(int lines=8):
    text = (<bytes>pyxring_bpf_log).decode(errors="replace").strip()
    return "\n".join(text.splitlines()[-lines:])


def prog_info(uint32_t prog_id):
    """(name, type) of a loaded program by id, or None if it is gone."""
    cdef int fd = bpf_prog_get_fd_by_id(prog_id)
    cdef bpf_prog_info info
    cdef uint32_t n = sizeof(info)
    if fd < 0:
        return None
    memset(&info, 0, sizeof(info))
    try:
        if bpf_obj_get_info_by_fd(fd, &info, &n) < 0:
            return None
        return (info.name.decode(errors="replace"), info.type)
    finally:
        close(fd)


def query(int ifindex):
    """The XDP program attached to ``ifindex``: dict(prog_id, mode, name)
    (prog_id 0 when none)."""
    cdef bpf_xdp_query_opts opts
    memset(&opts, 0, sizeof(opts))
    opts.sz = sizeof(opts)
    cdef int err = bpf_xdp_query(ifindex, 0, &opts)
    if err < 0:
        raise_errno(-err, f"querying XDP program of ifindex {ifindex}")
    pid = opts.prog_id or opts.drv_prog_id or opts.skb_prog_id or opts.hw_prog_id
    info = prog_info(pid) if pid else None
    return {"prog_id": pid, "mode": ATTACH_MODES.get(opts.attach_mode, str(opts.attach_mode)),
            "name": info[0] if info else ""}


def prog_fd_by_id(uint32_t prog_id):
    """A new fd (a reference that keeps the program alive) for ``prog_id``."""
    cdef int fd = bpf_prog_get_fd_by_id(prog_id)
    if fd < 0:
        raise_errno(-fd, f"getting XDP program id {prog_id}")
    return fd


def netlink_attach(int ifindex, int prog_fd, str mode, str ifname=""):
    """Attach by netlink (stays after the process dies)."""
    cdef int err = bpf_xdp_attach(ifindex, prog_fd, _MODE_FLAGS.get(mode, 0), NULL)
    if err < 0:
        raise_errno(-err, f"attaching XDP program to {ifname or ifindex} ({mode} mode, netlink)")


def netlink_detach(int ifindex, str mode, int expected_fd=-1, str ifname=""):
    """Detach the netlink-attached program (only ``expected_fd``'s, if given)."""
    cdef bpf_xdp_attach_opts opts
    cdef uint32_t flags = _MODE_FLAGS.get(mode, 0)
    memset(&opts, 0, sizeof(opts))
    opts.sz = sizeof(opts)
    if expected_fd >= 0:
        opts.old_prog_fd = expected_fd
        flags |= XDP_FLAGS_REPLACE
    cdef int err = bpf_xdp_detach(ifindex, flags, &opts)
    if err < 0:
        raise_errno(-err, f"detaching XDP program from {ifname or ifindex}")


def close_fd(int fd):
    if fd >= 0:
        close(fd)


cdef class XdpProgram:
    """One loaded XDP object, its chosen program and maps; attached at most
    once.  ``close()`` detaches (closing the link does that by itself) and
    frees everything; idempotent."""
    cdef bpf_object *obj
    cdef bpf_program *prog
    cdef readonly str path
    cdef readonly str prog_name
    cdef readonly str ifname
    cdef readonly int ifindex
    cdef readonly bint dev_bound
    cdef readonly bint frags
    cdef readonly int prog_fd
    cdef readonly int xsks_map_fd
    cdef readonly int counters_fd
    cdef readonly int filter_map_fd
    cdef readonly int link_fd          # >= 0 when attached by BPF link
    cdef readonly str attached_mode    # "native", "generic" or None
    cdef readonly bint netlink         # attached by netlink: must detach ourselves
    cdef int ncpus
    cdef object keeper                 # a loader owning the fds (bcc's BPF object), or None

    def __cinit__(self):
        self.obj = NULL
        self.prog = NULL
        self.prog_fd = self.xsks_map_fd = self.counters_fd = self.filter_map_fd = -1
        self.link_fd = -1
        self.attached_mode = None
        self.netlink = False

    def __init__(self, str path, str ifname, int ifindex, prog_name=None, bint dev_bound=False,
                 frags=None):
        """Open and load ``path``.  ``prog_name``: the program to keep (the
        others are not loaded); None = the first XDP program of the object.
        ``dev_bound``: bind to ``ifindex`` (needed for metadata kfuncs; native
        mode only).  ``frags``: force BPF_F_XDP_HAS_FRAGS on a user's object."""
        cdef bpf_program *p
        cdef int err
        cdef bpf_map *m
        self.path = path
        self.ifname = ifname
        self.ifindex = ifindex
        self.dev_bound = dev_bound
        self.ncpus = libbpf_num_possible_cpus()
        pyxring_bpf_log_reset()
        self.obj = bpf_object__open_file(path.encode(), NULL)
        if self.obj == NULL:
            err = errno or 2
            raise_errno(err, f"opening XDP object {path}", _log_tail(3))
        p = bpf_object__next_program(self.obj, NULL)
        while p != NULL:
            name = bpf_program__name(p).decode()
            if self.prog == NULL and (prog_name is None or name == prog_name):
                self.prog = p
            else:
                bpf_program__set_autoload(p, False)
            p = bpf_object__next_program(self.obj, p)
        if self.prog == NULL:
            self.close()
            raise ConfigError(f"{path}: no XDP program named {prog_name!r}" if prog_name
                              else f"{path}: no XDP program in the object")
        self.prog_name = bpf_program__name(self.prog).decode()
        section = bpf_program__section_name(self.prog).decode()
        if frags:
            bpf_program__set_flags(self.prog, bpf_program__flags(self.prog) | BPF_F_XDP_HAS_FRAGS)
        self.frags = bool(frags) or section.startswith("xdp.frags")
        if dev_bound:
            bpf_program__set_ifindex(self.prog, ifindex)
            bpf_program__set_flags(self.prog, bpf_program__flags(self.prog) | BPF_F_XDP_DEV_BOUND_ONLY)
        err = bpf_object__load(self.obj)
        if err < 0:
            log = _log_tail()
            self.close()
            raise_errno(-err, f"loading XDP program {self.prog_name} from {path}"
                        + (f" for {ifname}" if dev_bound else ""), log)
        self.prog_fd = bpf_program__fd(self.prog)
        m = bpf_object__find_map_by_name(self.obj, PYXRING_XSKS_MAP_NAME)
        if m == NULL:
            self.close()
            raise ConfigError(f"{path}: the XDP object has no map named "
                              f"{PYXRING_XSKS_MAP_NAME.decode()!r} (an XSKMAP keyed by RX queue)")
        self.xsks_map_fd = bpf_map__fd(m)
        m = bpf_object__find_map_by_name(self.obj, PYXRING_COUNTERS_MAP_NAME)
        self.counters_fd = bpf_map__fd(m) if m != NULL else -1
        m = bpf_object__find_map_by_name(self.obj, PYXRING_FILTER_MAP_NAME)
        self.filter_map_fd = bpf_map__fd(m) if m != NULL else -1

    def set_socket(self, uint32_t queue, int xsk_fd):
        """Route RX queue ``queue`` to the AF_XDP socket ``xsk_fd``."""
        cdef int err = bpf_map_update_elem(self.xsks_map_fd, &queue, &xsk_fd, 0)
        if err < 0:
            raise_errno(-err, f"adding the AF_XDP socket of {self.ifname} queue {queue} to xsks_map")

    def set_filter(self, int filter_prog_fd):
        """Put a filter program into filter_jmp[0] (before traffic flows)."""
        cdef uint32_t key = PYXRING_FILTER_SLOT
        if self.filter_map_fd < 0:
            raise ConfigError(f"{self.path}: no {PYXRING_FILTER_MAP_NAME.decode()!r} map for a filter")
        cdef int err = bpf_map_update_elem(self.filter_map_fd, &key, &filter_prog_fd, 0)
        if err < 0:
            raise_errno(-err, f"installing the filter program into {self.path}'s filter_jmp")

    def attach(self, str mode):
        """Attach in ``mode`` ("native" or "generic"): BPF link first, netlink
        if the kernel refuses links for this device."""
        cdef bpf_link_create_opts lopts
        cdef int fd, err
        if self.attached_mode is not None:
            return
        if mode not in _MODE_FLAGS:
            raise ConfigError(f"XDP mode must be native or generic, not {mode!r}")
        memset(&lopts, 0, sizeof(lopts))
        lopts.sz = sizeof(lopts)
        lopts.flags = _MODE_FLAGS[mode]
        pyxring_bpf_log_reset()
        fd = bpf_link_create(self.prog_fd, self.ifindex, BPF_XDP, &lopts)
        if fd >= 0:
            self.link_fd = fd
            self.attached_mode = mode
            return
        err = -fd
        import errno as E
        if err in (E.EINVAL, E.ENOSYS) and not self.dev_bound:
            # kernels/devices without XDP links: netlink, detached on close
            err = -bpf_xdp_attach(self.ifindex, self.prog_fd,
                                  _MODE_FLAGS[mode] | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL)
            if err == 0:
                self.netlink = True
                self.attached_mode = mode
                return
        hint = ""
        if err == E.ERANGE:
            hint = "the MTU is larger than a plain XDP program allows; a multi-buffer (xdp.frags) program is needed"
        elif err == E.EBUSY:
            hint = "another XDP program is attached"
        elif err == E.EOPNOTSUPP:
            hint = "the driver has no native XDP; try --xdp-mode generic"
        raise_errno(err, f"attaching XDP program {self.prog_name} to {self.ifname} in {mode} mode", hint)

    def detach(self):
        if self.link_fd >= 0:
            close(self.link_fd)
            self.link_fd = -1
        elif self.netlink:
            self.netlink = False
            try:
                netlink_detach(self.ifindex, self.attached_mode, self.prog_fd, self.ifname)
            except PyxringError:
                pass
        self.attached_mode = None

    def counters(self):
        """The program's per-CPU counters summed, as a dict (empty if the
        object has no ``counters`` map)."""
        cdef uint32_t key = 0
        cdef pyxring_counters *vals
        cdef pyxring_counters tot
        cdef int i
        cdef bpf_map_info minfo
        cdef uint32_t mlen = sizeof(minfo)
        if self.counters_fd < 0 or self.ncpus <= 0:
            return {}
        # a user's object may call its map "counters" with another layout:
        # a lookup would write past our buffer
        memset(&minfo, 0, sizeof(minfo))
        if bpf_obj_get_info_by_fd(self.counters_fd, &minfo, &mlen) < 0 or \
                minfo.value_size != sizeof(pyxring_counters):
            return {}
        vals = <pyxring_counters *>malloc(self.ncpus * sizeof(pyxring_counters))
        if vals == NULL:
            raise MemoryError()
        memset(&tot, 0, sizeof(tot))
        try:
            if bpf_map_lookup_elem(self.counters_fd, &key, vals) < 0:
                return {}
            for i in range(self.ncpus):
                tot.seen += vals[i].seen
                tot.redirected += vals[i].redirected
                tot.passed += vals[i].passed
                tot.filtered += vals[i].filtered
                tot.vlan_restored += vals[i].vlan_restored
                tot.vlan_lost += vals[i].vlan_lost
        finally:
            free(vals)
        return {"seen": tot.seen, "redirected": tot.redirected, "passed": tot.passed,
                "filtered": tot.filtered, "vlan_restored": tot.vlan_restored,
                "vlan_lost": tot.vlan_lost}

    def close(self):
        self.detach()
        if self.obj != NULL:
            bpf_object__close(self.obj)
            self.obj = NULL
        self.prog = NULL
        self.prog_fd = self.xsks_map_fd = self.counters_fd = self.filter_map_fd = -1
        keeper, self.keeper = self.keeper, None
        if keeper is not None and hasattr(keeper, "cleanup"):
            keeper.cleanup()

    def __dealloc__(self):
        if self.link_fd >= 0:
            close(self.link_fd)
        if self.netlink and self.prog_fd >= 0:
            bpf_xdp_detach(self.ifindex, _MODE_FLAGS.get(self.attached_mode, 0), NULL)
        if self.obj != NULL:
            bpf_object__close(self.obj)


def load_socket_program(str path, prog_name=None):
    """Load a SOCKET_FILTER program (``SEC("socket")``) from a clang-built
    object, e.g. a PACKET_FANOUT_EBPF program choosing a worker; returns a
    descriptor of its own (the object is closed: the program lives while
    the descriptor, or a fanout group using it, does)."""
    cdef bpf_object *obj
    cdef bpf_program *p
    cdef bpf_program *chosen = NULL
    cdef int err, fd
    pyxring_bpf_log_reset()
    obj = bpf_object__open_file(path.encode(), NULL)
    if obj == NULL:
        raise_errno(errno or 2, f"opening BPF object {path}", _log_tail(3))
    try:
        p = bpf_object__next_program(obj, NULL)
        while p != NULL:
            name = bpf_program__name(p).decode()
            if chosen == NULL and (prog_name is None or name == prog_name):
                chosen = p
            else:
                bpf_program__set_autoload(p, False)
            p = bpf_object__next_program(obj, p)
        if chosen == NULL:
            raise ConfigError(f"{path}: no program named {prog_name!r}" if prog_name
                              else f"{path}: no program in the object")
        if bpf_program__type(chosen) != BPF_PROG_TYPE_SOCKET_FILTER:
            raise ConfigError(f"{path}: {bpf_program__name(chosen).decode()} is not a socket "
                              f"program (SEC(\"socket\"))")
        err = bpf_object__load(obj)
        if err < 0:
            raise_errno(-err, f"loading {bpf_program__name(chosen).decode()} from {path}", _log_tail())
        fd = fcntl_dupfd(bpf_program__fd(chosen))
        if fd < 0:
            raise_errno(errno, f"keeping the program of {path}")
        return fd
    finally:
        bpf_object__close(obj)


cdef extern from "<fcntl.h>" nogil:
    int fcntl(int fd, int cmd, ...)
    enum: F_DUPFD_CLOEXEC


cdef int fcntl_dupfd(int fd):
    return fcntl(fd, F_DUPFD_CLOEXEC, 3)


def adopt(keeper, int prog_fd, int xsks_map_fd, int counters_fd, int filter_map_fd,
          str ifname, int ifindex, str name, str path):
    """An ``XdpProgram`` over fds loaded by someone else (bcc): attached,
    counted and detached like ours; ``keeper`` owns the fds and is cleaned
    up on close."""
    cdef XdpProgram p = XdpProgram.__new__(XdpProgram)
    p.keeper = keeper
    p.path = path
    p.prog_name = name
    p.ifname = ifname
    p.ifindex = ifindex
    p.dev_bound = False
    p.frags = False
    p.prog_fd = prog_fd
    p.xsks_map_fd = xsks_map_fd
    p.counters_fd = counters_fd
    p.filter_map_fd = filter_map_fd
    p.ncpus = libbpf_num_possible_cpus()
    return p
