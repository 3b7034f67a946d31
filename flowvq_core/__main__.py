"""``python -m flowvq_core COMMAND``: the command line lives in :mod:`flowvq_core.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
