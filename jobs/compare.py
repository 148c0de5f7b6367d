#!/usr/bin/env python
"""Compare finished runs as in the paper's tables (mean +- std over seeds).

Its flags are declared in smoot_dist/cli/compare.py, which calls the library; `--help`
lists them.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.cli.compare import main

if __name__ == "__main__":
    main()
