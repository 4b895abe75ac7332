"""Pruning time per method and model: compile time, pruning time, process wall time, peak RSS.

    python benchmarks/bench_pruning.py synflow --model vgg19_bn [--rounds 100] [--selection threshold]
    python benchmarks/bench_pruning.py snip --model vgg19 --batch-size 256
    python benchmarks/bench_pruning.py grasp --model vgg19 --batch-size 256

Each call is one process, so its peak memory is its own. The first prune() call compiles and
runs; the second, with another seed, reuses the compilation: its time is the pruning time.
SNIP/GraSP use random `normal` batches of the given size (same cost as real data, no
download). Comparisons with PyTorch are `side_by_side.py`'s, measured in the same run.
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import time

PROCESS_START = time.perf_counter()

import jax  # noqa: E402

from sketchjax import methods, pruning  # noqa: E402
from sketchjax.models.registry import init_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=[name for name, cls in methods.REGISTRY.items()
                                           if issubclass(cls, methods.OneShot)])
    parser.add_argument("--model", default="vgg19_bn")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--selection", default="threshold")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    start = time.perf_counter()
    bundle = init_model(args.model, args.dataset, jax.random.key(0))
    init_s = time.perf_counter() - start
    cls = methods.get(args.method)
    data = ({"data": "normal", "batch_size": args.batch_size}
            if issubclass(cls, methods.DataScored) else {})
    config = cls(density=args.density, rounds=args.rounds, selection=args.selection, **data)
    start = time.perf_counter()
    first = pruning.prune(bundle, config, progress=False)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    second = pruning.prune(bundle, dataclasses.replace(config, seed=1), progress=False)
    prune_s = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"{args.method} {args.model} d={args.density} rounds={config.num_rounds} "
          f"selection={args.selection}: kept {second.metadata['kept']:,} of "
          f"{second.metadata['prunable']:,}")
    print(f"  init {init_s:.1f} s | first run (compile + prune) {first_s:.1f} s | "
          f"pruning {prune_s:.2f} s ({prune_s / config.num_rounds * 1000:.0f} ms/round) | "
          f"compile ~{first_s - prune_s:.1f} s | process wall {time.perf_counter() - PROCESS_START:.1f} s"
          f" | peak RSS {peak_gib:.2f} GiB")
    del first


if __name__ == "__main__":
    main()
