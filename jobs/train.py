#!/usr/bin/env python
"""Train an image classifier with traditional training, SGT or SMOOT.

Its flags are declared in smoot_dist/cli/train.py, which calls the library; `--help`
lists them.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.cli.train import main

if __name__ == "__main__":
    main()
