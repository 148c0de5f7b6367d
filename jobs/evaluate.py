#!/usr/bin/env python
"""Saliency evaluation of a trained run: accuracy-drop curves and their AUC.

Its flags are declared in smoot_dist/cli/evaluate.py, which calls the library; `--help`
lists them.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.cli.evaluate import main

if __name__ == "__main__":
    main()
