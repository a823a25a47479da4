#!/bin/busybox sh
# /init of the myring test guest.  Everything the host judges is a line on
# the serial console starting with MYRING-; the guest powers off at the end
# (qemu's exit status says nothing about the tests).
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
echo "MYRING-GUEST-BOOTED $(uname -r)"

if insmod /myring.ko; then
    echo "MYRING-INSMOD ok"
    /myring_test protocol
    if [ -x /usr/bin/python3 ] && [ -f /guest_py.py ]; then
        PYTHONPATH=/pyxring-root PYTHONDONTWRITEBYTECODE=1 python3 /guest_py.py
    fi
    /myring_test unload
else
    echo "MYRING-INSMOD FAIL"
fi
dmesg | grep -E "myring|BUG|WARNING|Oops|RIP" | sed 's/^/MYRING-DMESG /'
echo "MYRING-GUEST-END"
poweroff -f
