#!/usr/bin/env python
"""Lay out datasets where torchvision reads them, from offline sources.

Its flags are declared in smoot_dist/cli/prepare_data.py, which calls the library; `--help`
lists them.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.cli.prepare_data import main

if __name__ == "__main__":
    main()
