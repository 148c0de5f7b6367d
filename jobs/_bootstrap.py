"""Lets `python jobs/<job>.py` import this checkout's smoot_dist without installing it (a fresh
clone, a Ray job's working directory, the GPU machine). Imported first by every job script."""

import sys
from pathlib import Path

CHECKOUT = str(Path(__file__).resolve().parents[1])
if CHECKOUT not in sys.path:
    sys.path.insert(0, CHECKOUT)
