#!/usr/bin/env python
"""Train an image classifier with traditional training, SGT or SMOOT.

The job lives in smoot_dist/commands/train.py; `--help` lists its settings.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.commands.train import main

if __name__ == "__main__":
    main()
