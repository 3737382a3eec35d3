"""``python -m wattwatch``: the ``wattwatch`` command line."""

import sys

from wattwatch.cli.main import main

sys.exit(main())
