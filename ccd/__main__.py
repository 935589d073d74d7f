"""``python -m ccd`` is the same as the ``ccd`` command."""

import sys

from ccd.cli import main

if __name__ == "__main__":
    sys.exit(main())
