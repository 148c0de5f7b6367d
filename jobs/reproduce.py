#!/usr/bin/env python
"""Reproduce the paper's comparison: four methods, several seeds, evaluated; the results page.

The job lives in smoot_dist/commands/reproduce.py; `--help` lists its settings.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.commands.reproduce import main

if __name__ == "__main__":
    main()
