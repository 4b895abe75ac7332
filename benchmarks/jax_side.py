"""sketchjax's side of the side-by-side benchmarks (`side_by_side.py`): the same tasks as
`baselines/torch_side.py`, with the library, printing one JSON line.

    python benchmarks/jax_side.py train   --model resnet20 [--masked]
    python benchmarks/jax_side.py synflow --model vgg19_bn
    python benchmarks/jax_side.py snip    --model resnet20

train: `train_step` of `sketchjax.training` (jitted, the masked optax chain; `--masked`: a
random 10% mask, otherwise all ones) on one reused random batch of 128, BatchNorm in training
mode, SGD momentum 0.9, weight decay 1e-4, lr 0.1; 3 warm-up steps (compilation), then
`--steps` timed. synflow / snip / grasp: `sketchjax.prune` at density 0.1 (SynFlow 100 rounds;
SNIP and GraSP one batch of 256 N(0,1) images), timed on a second call after a first one
compiled (as the PyTorch side, which has nothing to compile). `process_seconds` is the whole
process (imports, init, compilation) up to the result.
"""
from __future__ import annotations

import argparse
import json
import os
import time

PROCESS_START = time.perf_counter()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def train_task(model: str, steps: int, masked: bool) -> dict:
    from sketchjax import trees
    from sketchjax import training as T
    from sketchjax.models.registry import init_model
    bundle = init_model(model, "cifar10", jax.random.key(0))
    rng = np.random.default_rng(0)
    mask = trees.unflatten({p: (rng.random(np.shape(v)) < (0.1 if masked else 2.0))
                            .astype(np.float32)
                            for p, v in trees.flatten(trees.prunable(bundle.params)).items()})
    state = T.create_train_state(bundle.module, bundle.params, bundle.batch_stats, mask,
                                 T.make_optimizer(T.TrainConfig(), 390))
    step = jax.jit(T.train_step)
    batch = {"image": jnp.asarray(rng.standard_normal((128, 32, 32, 3)), jnp.float32),
             "label": jnp.asarray(rng.integers(0, 10, 128), jnp.int32)}
    for _ in range(3):
        state, _ = step(state, batch)
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(steps):
        state, _ = step(state, batch)
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start
    return {"img_per_s": steps * 128 / seconds, "seconds": seconds, "steps": steps}


def prune_task(model: str, method: str) -> dict:
    import dataclasses
    from sketchjax import init_model, methods, prune
    bundle = init_model(model, "cifar10", jax.random.key(0))
    cls = methods.get(method)
    data = ({"data": "normal", "batch_size": 256} if issubclass(cls, methods.DataScored)
            else {})
    config = cls(density=0.1, **data)
    first = time.perf_counter()
    prune(bundle, config, progress=False)
    first = time.perf_counter() - first
    start = time.perf_counter()
    mask = prune(bundle, dataclasses.replace(config, seed=1), progress=False)
    return {"seconds": time.perf_counter() - start, "first_call_seconds": first,
            "rounds": config.num_rounds, "kept": mask.metadata["kept"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=("train", "synflow", "snip", "grasp"))
    p.add_argument("--model", choices=("resnet20", "vgg19_bn"), default="resnet20")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--masked", action="store_true")
    args = p.parse_args()
    result = (train_task(args.model, args.steps, args.masked) if args.task == "train"
              else prune_task(args.model, args.task))
    print(json.dumps({"side": "sketchjax", "task": args.task, "model": args.model,
                      "threads": os.cpu_count(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
                      "version": jax.__version__,
                      "process_seconds": time.perf_counter() - PROCESS_START, **result}))


if __name__ == "__main__":
    main()
