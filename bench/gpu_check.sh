#!/usr/bin/env bash
# The device check for a lent GPU machine (bench/gpu_check.py says what it runs and why; its
# report goes to $OUT). First, here: bash bench/prepare_gpu_check.sh (the wheels it carries).
#   bash bench/gpu_check.sh              # on the device: carry ["bench/wheels"]
#   bash bench/gpu_check.sh --rehearse   # here or in CI: the same sections on the CPU, toy sizes
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python   # this checkout's environment, where it has one
exec "$PY" bench/gpu_check.py "$@"
