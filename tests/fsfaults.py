"""Small file systems for the writer's fault tests: a loop-mounted ext4 that
fills up (ENOSPC), can be shut down (EIO) or frozen (writes that never
complete), and a ramfs (a file system that refuses O_DIRECT).  Everything is
unmounted and detached on the way out, also when the test failed."""
import contextlib
import fcntl
import os
import struct
import subprocess

from conftest import require_root, require_tool

EXT4_IOC_SHUTDOWN = 0x8004587D          # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_DEFAULT = 0            # sync, then every later write fails with EIO


def _run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def loop_ext4(tmp_path, mib=8):
    """A fresh ext4 of ``mib`` MiB on a loop device, mounted at a directory
    it yields."""
    require_root()
    require_tool("losetup")
    require_tool("mkfs.ext4")
    image = tmp_path / "fs.img"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(mib << 20)
    _run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0", str(image))
    _DEVICES[str(mnt)] = [image, _attach(image)]
    try:
        _run("mount", _DEVICES[str(mnt)][1], str(mnt))
        try:
            yield mnt
        finally:
            thaw(mnt)
            _unmount(mnt)
    finally:
        subprocess.run(["losetup", "-d", _DEVICES.pop(str(mnt))[1]], capture_output=True,
                       timeout=60)


_DEVICES = {}                           # mount point -> [image, loop device]


def _attach(image):
    return subprocess.run(["losetup", "-f", "--show", str(image)], check=True,
                          capture_output=True, timeout=60).stdout.decode().strip()


def shut_down(mnt):
    """From now on writes to ``mnt`` fail with EIO (what a dying disk does)."""
    fd = os.open(mnt, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_DEFAULT))
    finally:
        os.close(fd)


def freeze(mnt):
    _run("fsfreeze", "-f", str(mnt))


def thaw(mnt):
    subprocess.run(["fsfreeze", "-u", str(mnt)], capture_output=True, timeout=60)


@contextlib.contextmanager
def ramfs(tmp_path):
    """A ramfs, which refuses O_DIRECT (tmpfs takes it since Linux 6.6)."""
    require_root()
    mnt = tmp_path / "ram"
    mnt.mkdir()
    _run("mount", "-t", "ramfs", "none", str(mnt))
    try:
        yield mnt
    finally:
        _unmount(mnt)


def _unmount(mnt):
    """Unmount; if a failed test still holds a file open there, detach the
    mount now and let the kernel finish when the file is closed."""
    if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=60).returncode:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=60)


def remount(mnt):
    """Unmount, and mount again from a fresh loop device (after a shutdown the
    old device's cache may still hold blocks the dead mount left behind):
    the files then read back as the image holds them."""
    image, dev = _DEVICES[str(mnt)]
    _run("umount", str(mnt))
    subprocess.run(["losetup", "-d", dev], capture_output=True, timeout=60)
    dev = _attach(image)
    _DEVICES[str(mnt)] = [image, dev]
    _run("mount", dev, str(mnt))
