#!/bin/busybox sh
# /init of the myring test guest.  Everything the host judges is a line on
# the serial console starting with MYRING-; the guest powers off at the end
# (qemu's exit status says nothing about the tests).
#
# What runs comes from the kernel command line (the kernel hands init the
# key=value words it does not know as environment variables):
#   myring_suite=test   (default) protocol, Python backend, abuse, unload
#   myring_suite=soak   one soak run of the Python consumer (guest_soak.py),
#                       with myring_args (insmod parameters, commas for
#                       spaces) and myring_soak (its options, the same way)
#   myring_overflow_s   seconds of the overflow abuse (default 10)
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
# a task blocked this long is reported (and fails the run): no stall goes unseen
echo 10 > /proc/sys/kernel/hung_task_timeout_secs
echo "MYRING-GUEST-BOOTED $(uname -r)"
# the Debian kernel's drivers the run needs (virtio disk for the soak's file)
for m in /modules/*.ko; do
    [ -e "$m" ] && { insmod "$m" || echo "MYRING-INFO insmod $m failed"; }
done
[ -e /sys/kernel/debug/kmemleak ] || echo "MYRING-INFO no kmemleak in this kernel: slab and vmalloc counters instead"
vmalloc_used() { sed -n 's/^VmallocUsed: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
echo "MYRING-MEM before-insmod vmalloc_kb=$(vmalloc_used)"
py() { PYTHONPATH=/pyxring-root PYTHONDONTWRITEBYTECODE=1 python3 "$@"; }
has_python() { [ -x /usr/bin/python3 ] && [ -f "$1" ]; }

suite_test() {
    /myring_test protocol
    if has_python /guest_py.py; then
        py /guest_py.py
    fi
    /myring_test overflow "${myring_overflow_s:-10}"
    /myring_test kill 24
    # ends with the module unloaded; loaded again for the plain unload checks
    /myring_test unload-foreign
    insmod /myring.ko || echo "MYRING-INSMOD FAIL (again)"
    /myring_test unload
}

suite_soak() {
    set -f      # a filter such as udp[15]&1=0 is no file pattern
    has_python /guest_soak.py && py /guest_soak.py $(echo "$myring_soak" | tr , ' ')
    rmmod myring
}

if insmod /myring.ko $(echo "$myring_args" | tr , ' '); then
    echo "MYRING-INSMOD ok"
    case "${myring_suite:-test}" in
        soak) suite_soak ;;
        *) suite_test ;;
    esac
else
    echo "MYRING-INSMOD FAIL"
fi
echo "MYRING-MEM after-rmmod vmalloc_kb=$(vmalloc_used) module_vmaps=$(grep -c myring /proc/vmallocinfo)"
dmesg | grep -E "myring|BUG|WARNING|Oops|RIP|refcount|list_(add|del)|corruption|general protection|Call Trace|soft lockup|blocked for more than|stall|Poison|Redzone|use-after-free" \
    | sed 's/^/MYRING-DMESG /'
echo "MYRING-TAINT $(cat /proc/sys/kernel/tainted)"
echo "MYRING-GUEST-END"
poweroff -f
