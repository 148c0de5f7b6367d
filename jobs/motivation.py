#!/usr/bin/env python
"""The paper's motivation experiment: images whose confidence rises, then falls, under masking.

The job lives in smoot_dist/commands/motivation.py; `--help` lists its settings.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.commands.motivation import main

if __name__ == "__main__":
    main()
