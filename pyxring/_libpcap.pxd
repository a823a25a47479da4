# Filters compiled by libpcap and run over a whole batch (see _libpcap.pyx).
from pyxring._core cimport Batch
from pyxring.includes.pcap cimport bpf_program

ctypedef struct linktype_program:
    int linktype            # LINKTYPE_ value the program was compiled for
    bpf_program prog        # bf_insns owned (malloc)


cdef class BatchFilter:
    cdef readonly str expression
    cdef readonly unsigned int snaplen
    cdef linktype_program *progs
    cdef Py_ssize_t n_progs
    cdef readonly unsigned long long matched      # packets kept by apply()
    cdef readonly unsigned long long filtered     # packets apply() removed
    cdef int add_program(self, int linktype, insns) except -1
    cdef int ensure_programs(self, Batch batch) except -1
    cpdef Py_ssize_t apply(self, Batch batch) except -1
