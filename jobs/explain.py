#!/usr/bin/env python
"""A trained run explains your own images: its prediction and the saliency of it.

The job lives in smoot_dist/commands/explain.py; `--help` lists its settings.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.commands.explain import main

if __name__ == "__main__":
    main()
