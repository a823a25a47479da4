"""What pyxring reports about interfaces: tcpdump -D's list and numbering,
the XDP features the kernel declares, and whether a lost interface went down
or disappeared."""
import re
import subprocess

import pytest

from conftest import require_root, require_tool


def test_link_lost_tells_down_from_deleted(lab):
    from pyxring.errors import interface_exists, link_lost
    with lab.enter_b():
        assert interface_exists(lab.if_b, lab.ifindex_b)
        lab.run_b(["ip", "link", "set", lab.if_b, "down"])
        assert link_lost(lab.if_b, lab.ifindex_b) == f"capture on {lab.if_b}: the interface went down"
        lab.run_b(["ip", "link", "del", lab.if_b])
        assert not interface_exists(lab.if_b, lab.ifindex_b)
        assert link_lost(lab.if_b, lab.ifindex_b) == f"capture on {lab.if_b}: the interface disappeared"
