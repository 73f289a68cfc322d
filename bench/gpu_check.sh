#!/usr/bin/env bash
# One prepared GPU check (about 3 minutes on one GPU, at most 8), run from the repository root:
#
#   bash bench/gpu_check.sh            # PYTHON=python3 by default; OUT=<folder> keeps the results
#
# 1. klue/roberta-large's shape (random weights) in bf16: tokens/s, MFU and peak memory at batch
#    sizes 8, 16, 32, 64 (bench/throughput.py; needs only torch, transformers and numpy).
# 2. A 2-trial quickstart sweep with resources.gpu 0.5 and max_concurrent 2: both trials share
#    the one device (needs the project's packages: ray, optuna, mlflow, pydantic; skipped with a
#    line saying so where they are missing). Temporary storage, MLflow in SQLite.
#
# Without a GPU it says so and exits 0: CI and CPU boxes can run it harmlessly.
set -uo pipefail

PYTHON=${PYTHON:-python3}
OUT=${OUT:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=${OUT:-$work}
mkdir -p "$results"

say() { echo "gpu_check: $*" | tee -a "$results/gpu_check.txt"; }

if ! command -v nvidia-smi >/dev/null 2>&1; then
  say "needs a GPU (no nvidia-smi on this machine); nothing run"
  exit 0
fi
if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  say "needs a GPU (torch in $PYTHON sees no CUDA device); nothing run"
  exit 0
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader |
  tee -a "$results/gpu_check.txt"

say "1/2 roberta-large shape, bf16, batch sizes 8,16,32,64"
timeout 300 "$PYTHON" bench/throughput.py --device cuda --precision bf16 --setups roberta-large \
  --batch-sizes 8,16,32,64 --json "$results/throughput.json" 2>&1 | tee "$results/throughput.txt"
mfu_status=${PIPESTATUS[0]}
[ "$mfu_status" -eq 0 ] || say "throughput.py failed (exit $mfu_status); see throughput.txt"

if ! "$PYTHON" -c 'import ray, optuna, mlflow, pydantic' 2>/dev/null; then
  say "2/2 sweep skipped: ray, optuna, mlflow or pydantic is not importable by $PYTHON"
  exit "$mfu_status"
fi
say "2/2 quickstart sweep, 2 trials at resources.gpu 0.5 on one device"
timeout 300 "$PYTHON" -m search.run --config configs/quickstart.yaml \
  --set experiment.name="gpu-check-$(date +%Y%m%d-%H%M%S)" \
  --set resources.gpu=0.5 --set search.num_samples=2 --set search.max_concurrent=2 \
  --set storage.path="$work/ray_results" --set tracking.uri="sqlite:///$work/mlflow.db" \
  2>&1 | tee "$results/sweep.txt"
sweep_status=${PIPESTATUS[0]}
[ "$sweep_status" -eq 0 ] || say "sweep failed (exit $sweep_status); see sweep.txt"
exit $((mfu_status || sweep_status))
