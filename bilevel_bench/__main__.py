"""``python -m bilevel_bench``: the command line."""

import sys

from bilevel_bench.cli import main

sys.exit(main())
