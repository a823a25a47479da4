import sys

from pyxring.cli import main

sys.exit(main())
