#!/usr/bin/env bash
# One-time (idempotent) setup on a fresh machine: the Fashion-MNIST Debian package, a virtualenv
# at .venv with this project and its dependencies, and the offline datasets laid out for
# torchvision. Re-running it is cheap: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

FASHION_SRC=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -f "$FASHION_SRC" ]; then
  step "installing the Debian package dataset-fashion-mnist (Fashion-MNIST source)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q dataset-fashion-mnist \
    || { $SUDO apt-get update -q && $SUDO apt-get install -y -q dataset-fashion-mnist; }
fi

if [ ! -x .venv/bin/python ]; then
  step "creating the virtualenv .venv"
  python3 -m venv .venv
fi

step "installing smoot_dist and its dependencies into .venv (torch pinned by constraints.txt)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev,cluster-test]"
# this checkout's modules compiled once, as pip compiles what it installs: every job, Ray worker
# and test imports them, and where PYTHONDONTWRITEBYTECODE is set each would compile them again
.venv/bin/python -m compileall -q smoot_dist > /dev/null

step "laying out MNIST and Fashion-MNIST for torchvision"
.venv/bin/python jobs/prepare_data.py mnist fashion_mnist
