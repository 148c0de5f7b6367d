#!/usr/bin/env python
"""The paper's motivation experiment: images whose confidence rises, then falls, under masking.

Its flags are declared in smoot_dist/cli/motivation.py, which calls the library; `--help`
lists them.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.cli.motivation import main

if __name__ == "__main__":
    main()
