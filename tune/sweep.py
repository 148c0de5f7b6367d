#!/usr/bin/env python
"""`python tune/sweep.py ...` runs the sweep job, jobs/sweep.py (where every job lives). Beside it:
search_space.yaml, the default space, and search_spaces/, the tuned-against-tuned pair
(docs/sweeps.md)."""

import os
import sys

job = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "jobs", "sweep.py")
os.execv(sys.executable, [sys.executable, os.path.normpath(job), *sys.argv[1:]])
