#!/usr/bin/env bash
# One short check (< 8 min) for a machine with a GPU, run from the repository root:
#   bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
# 1. the main job (VGG-19 BN, SynFlow + chi, 100 rounds), whole process, twice (the second
#    run loads its programs from the persistent compilation cache);
# 2. training throughput of resnet20 and vgg19_bn, batch 128, synthetic CIFAR-shaped data,
#    1 seed and 3 vmapped seeds (experiments.estimate.step_seconds, at the real batch and seeds);
# 3. the time of one CIFAR-10 ResNet-20 epoch's steps (390 steps of 128, synthetic data: the
#    machine has no network and no CIFAR-10).
set -euo pipefail
export SKETCHJAX_COMPILE_CACHE="${SKETCHJAX_COMPILE_CACHE:-$(mktemp -d)/jax-compile}"
python -c "import jax; print('jax', jax.__version__, jax.devices())"
for run in first second; do
  /usr/bin/time -f "main job ($run run, compile cache $SKETCHJAX_COMPILE_CACHE): %e s wall, %M KB peak" \
    python prune.py --method synflow --chi-input --quiet --force --out "$(mktemp -d)/m.npz"
done
python - <<'PY'
import time
from sketchjax.experiments.estimate import step_seconds
from sketchjax.training import preset
cache = {}
for model in ("resnet20", "vgg19_bn"):
    for seeds in (1, 3):
        t, _ = step_seconds(model, "cifar10", preset("paper", batch_size=128), seeds, cache)
        print(f"train step {model}, batch 128, {seeds} seed(s): {t * 1e3:.1f} ms "
              f"= {128 * seeds / t:.0f} img/s")
PY
python benchmarks/jax_side.py train --model resnet20 --steps 390
