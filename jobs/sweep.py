#!/usr/bin/env python
"""Ray Tune sweep over SMOOT's settings, each trial a Ray Train run.

Its flags are declared in smoot_dist/cli/sweep.py, which calls the library; `--help`
lists them.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.cli.sweep import main

if __name__ == "__main__":
    main()
