"""Fig. 2's shuffled-mask norms: first distinct draws (`experiments.shuffles`, what Fig. 2 uses)
against one sort of the layer's random keys per mask, alternately, in one process.

    python benchmarks/bench_shuffles.py                    # LeNet's 784x300 layer, 1,000 masks
    python benchmarks/bench_shuffles.py --masks 2000 --repeats 3

Each side computes ||theta * shuffle(mask)|| for the same keys on the same layer, after a
compiling call of the same shape; prints every repeat, the best of each and their ratio.
"""
from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from alternate import summary, time_alternately
from sketchjax.experiments import shuffles


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=784 * 300, help="weights in the layer")
    p.add_argument("--masks", type=int, default=1000)
    p.add_argument("--densities", default="0.012,0.05,0.2,0.5,0.8")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    print(f"jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].device_kind}, "
          f"{os.cpu_count()} CPUs; XLA:CPU uses all cores by default")
    rng = np.random.default_rng(0)
    theta = jnp.asarray(rng.standard_normal(args.size), jnp.float32)
    keys = jax.random.split(jax.random.key(0), args.masks)
    for density in (float(d) for d in args.densities.split(",")):
        mask = jnp.asarray(rng.random(args.size) < density, jnp.float32)
        sides = {"first distinct": lambda: shuffles.random_mask_norms(keys, mask, theta),
                 "sort": lambda: np.asarray(shuffles._sorted_norms(keys, mask, theta))}
        for fn in sides.values():
            fn()                                          # compile
        times = time_alternately(sides, args.repeats)
        print(f"density {density:g}, {args.masks} masks of {args.size:,} weights: "
              + summary(times, slow="sort", fast="first distinct"))


if __name__ == "__main__":
    main()
