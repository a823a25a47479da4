# libbpf 1.x (-lbpf): open/load a clang-built object, find maps and programs,
# attach XDP by BPF link or netlink.  Only what pyxring uses.
from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef extern from "<bpf/libbpf.h>" nogil:
    struct bpf_object:
        pass
    struct bpf_program:
        pass
    struct bpf_map:
        pass
    struct bpf_object_open_opts:
        pass
    bpf_object *bpf_object__open_file(const char *path, const bpf_object_open_opts *opts)
    int bpf_object__load(bpf_object *obj)
    void bpf_object__close(bpf_object *obj)
    bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)
    bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prog)
    bpf_map *bpf_object__find_map_by_name(const bpf_object *obj, const char *name)
    int bpf_map__fd(const bpf_map *map)
    int bpf_program__fd(const bpf_program *prog)
    const char *bpf_program__name(const bpf_program *prog)
    const char *bpf_program__section_name(const bpf_program *prog)
    int bpf_program__set_autoload(bpf_program *prog, bint autoload)
    int bpf_program__set_flags(bpf_program *prog, uint32_t flags)
    uint32_t bpf_program__flags(const bpf_program *prog)
    void bpf_program__set_ifindex(bpf_program *prog, uint32_t ifindex)
    int bpf_program__set_type(bpf_program *prog, int type)
    int bpf_program__type(const bpf_program *prog)
    int libbpf_num_possible_cpus()
    ctypedef int (*libbpf_print_fn_t)(int level, const char *fmt, void *args)
    libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn)
    int libbpf_strerror(int err, char *buf, size_t size)

    struct bpf_xdp_attach_opts:
        size_t sz
        int old_prog_fd
    struct bpf_xdp_query_opts:
        size_t sz
        uint32_t prog_id
        uint32_t drv_prog_id
        uint32_t hw_prog_id
        uint32_t skb_prog_id
        uint8_t attach_mode
    int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, const bpf_xdp_attach_opts *opts)
    int bpf_xdp_detach(int ifindex, uint32_t flags, const bpf_xdp_attach_opts *opts)
    int bpf_xdp_query(int ifindex, int flags, bpf_xdp_query_opts *opts)

cdef extern from "<bpf/bpf.h>" nogil:
    struct bpf_link_create_opts:
        size_t sz
        uint32_t flags
    int bpf_link_create(int prog_fd, int target_fd, int attach_type, const bpf_link_create_opts *opts)
    int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)
    int bpf_map_lookup_elem(int fd, const void *key, void *value)
    int bpf_map_delete_elem(int fd, const void *key)
    int bpf_prog_get_fd_by_id(uint32_t id)
    int bpf_obj_get_info_by_fd(int bpf_fd, void *info, uint32_t *info_len)

cdef extern from "<linux/bpf.h>" nogil:
    enum:
        BPF_XDP
        BPF_PROG_TYPE_XDP
        BPF_PROG_TYPE_SOCKET_FILTER
        BPF_F_XDP_HAS_FRAGS
        BPF_OBJ_NAME_LEN
    struct bpf_map_info:
        uint32_t type
        uint32_t id
        uint32_t key_size
        uint32_t value_size
        uint32_t max_entries
    struct bpf_prog_info:
        uint32_t type
        uint32_t id
        char name[16]
        uint32_t ifindex
