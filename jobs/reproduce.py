#!/usr/bin/env python
"""Reproduce the paper's comparison: four methods, several seeds, evaluated; the results page.

Its flags are declared in smoot_dist/cli/reproduce.py, which calls the library; `--help`
lists them.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.cli.reproduce import main

if __name__ == "__main__":
    main()
