#!/usr/bin/env python
"""Lay out datasets where torchvision reads them, from offline sources.

The job lives in smoot_dist/commands/prepare_data.py; `--help` lists its settings.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.commands.prepare_data import main

if __name__ == "__main__":
    main()
