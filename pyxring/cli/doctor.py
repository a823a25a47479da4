"""``pyxring doctor [IFACE]``: one line per check, verdict, what was found
and the fix (see ``pyxring.doctor``)."""
import sys


def add_arguments(parser):
    parser.add_argument("iface", nargs="?", metavar="IFACE",
                        help="also try XDP (native, generic) and AF_XDP zero-copy on IFACE, "
                             "attaching for a moment with a filter that matches nothing")


def run(args):
    from pyxring import doctor
    checks = doctor.machine_checks()
    if args.iface:
        checks += doctor.interface_checks(args.iface)
    else:
        checks += doctor.declared_xdp()
    for c in checks:
        sys.stdout.write(c.line() + "\n")
    sys.stdout.flush()
    return 0
