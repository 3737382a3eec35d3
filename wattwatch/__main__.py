"""``python -m wattwatch``: the ``wattwatch`` command line."""

import sys

from wattwatch.cli import main

sys.exit(main())
