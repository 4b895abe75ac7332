"""Algorithm 1 and the exact k-th value at VGG-19 scale, beside numpy baselines.

    python benchmarks/bench_sketch.py [--n 20024000] [--density 0.1] [--repeats 5]

Algorithm 1 (s = density * n draws with replacement, m_i = count_i / (s p_i)) against numpy's
Generator.choice(n, s, p=p) + bincount in the same run; the exact k-th smallest value
(the hard threshold's cost per pruning round) against jnp.sort and numpy's np.partition.
Times are best-of-repeats after compilation.
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from sketchjax import sketch


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_024_000)
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n, s = args.n, int(round(args.density * args.n))
    scores = jax.random.uniform(jax.random.key(0), (n,)) ** 4     # skewed, like SynFlow scores
    p_np = np.asarray(scores, np.float64) / float(np.sum(np.asarray(scores, np.float64)))

    draw = jax.jit(sketch.sketch_mask, static_argnums=2)
    start = time.perf_counter()
    jax.block_until_ready(draw(jax.random.key(1), scores, s))
    compile_s = time.perf_counter() - start
    keys = iter(jax.random.split(jax.random.key(2), 100))
    jax_s = best_of(lambda: draw(next(keys), scores, s), args.repeats)

    rng = np.random.default_rng(0)

    def numpy_sketch():
        counts = np.bincount(rng.choice(n, size=s, p=p_np), minlength=n)
        return counts / (s * p_np)
    numpy_s = best_of(numpy_sketch, max(1, args.repeats // 2))

    k = int((1 - args.density) * n)
    kth = jax.jit(sketch.kth_smallest)
    jax.block_until_ready(kth(scores, k))
    kth_s = best_of(lambda: kth(scores, k), args.repeats)
    sort = jax.jit(lambda x: jnp.sort(x)[k - 1])
    jax.block_until_ready(sort(scores))
    sort_s = best_of(lambda: sort(scores), 1)
    x_np = np.asarray(scores)
    partition_s = best_of(lambda: np.partition(x_np, k - 1)[k - 1], args.repeats)

    print(f"n = {n:,}, s = {s:,}, devices: {jax.devices()}")
    print(f"Algorithm 1, sketchjax (jit)          : {jax_s:7.3f} s   (compile {compile_s:.1f} s)")
    print(f"Algorithm 1, numpy choice(p)+bincount : {numpy_s:7.3f} s   "
          f"({numpy_s / jax_s:.1f}x slower)")
    print(f"k-th smallest, sketchjax kth_smallest : {kth_s:7.3f} s")
    print(f"k-th smallest, jnp.sort               : {sort_s:7.3f} s")
    print(f"k-th smallest, numpy np.partition     : {partition_s:7.3f} s")


if __name__ == "__main__":
    main()
