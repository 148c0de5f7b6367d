#!/usr/bin/env python
"""Compare finished runs as in the paper's tables (mean +- std over seeds).

The job lives in smoot_dist/commands/compare.py; `--help` lists its settings.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.commands.compare import main

if __name__ == "__main__":
    main()
