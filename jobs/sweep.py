#!/usr/bin/env python
"""Ray Tune sweep over SMOOT's settings, each trial a Ray Train run.

The job lives in smoot_dist/commands/sweep.py; `--help` lists its settings.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.commands.sweep import main

if __name__ == "__main__":
    main()
