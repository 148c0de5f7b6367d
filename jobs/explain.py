#!/usr/bin/env python
"""A trained run explains your own images: its prediction and the saliency of it.

Its flags are declared in smoot_dist/cli/explain.py, which calls the library; `--help`
lists them.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.cli.explain import main

if __name__ == "__main__":
    main()
