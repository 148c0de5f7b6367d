#!/usr/bin/env python
"""Saliency evaluation of a trained run: accuracy-drop curves and their AUC.

The job lives in smoot_dist/commands/evaluate.py; `--help` lists its settings.
"""

import _bootstrap  # noqa: F401  (this checkout's smoot_dist, installed or not)
from smoot_dist.commands.evaluate import main

if __name__ == "__main__":
    main()
