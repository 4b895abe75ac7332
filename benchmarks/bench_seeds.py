"""Seeds of one cell trained together (stacked masks and initial weights, one vmapped program)
against the same seeds trained one after another, alternately, in one process.

    python benchmarks/bench_seeds.py                       # the cpu and cpu-conv scales' settings
    python benchmarks/bench_seeds.py --repeats 3

Each side trains the same seeds with the same masks and recipe (the experiment runner's cpu
settings: LeNet-300-100 on MNIST-1D 20k, 10 epochs, 5 seeds; ResNet-20 on digits, 15 epochs,
3 seeds); a warm-up of each side compiles first. Prints both wall times and the ratio.
"""
from __future__ import annotations

import argparse
import os

import jax
from alternate import summary, time_alternately

from sketchjax.mask_store import MaskSpec, make_mask
from sketchjax.methods import SynFlow
from sketchjax.training import plan_run, preset, train

SETTINGS = {
    "lenet_300_100/mnist1d_large": ("lenet_300_100", "mnist1d_large", 5,
                                    preset("lenet", epochs=10, eval_every=0, checkpoint_every=0)),
    "resnet20/digits": ("resnet20", "digits", 3,
                        preset("paper", epochs=15, batch_size=64, lr=0.05, milestones=(10,),
                               eval_every=0, checkpoint_every=0)),
}


def masks_for(model, dataset, seeds, folder):
    return [make_mask(MaskSpec(model, dataset, SynFlow(density=0.05, seed=s)),
                      masks_dir=folder, progress=False, log=lambda s: None).mask
            for s in range(seeds)]


def stacked(model, dataset, config, masks):
    return train(plan_run(model, dataset, config, mask=masks, seeds=range(len(masks))),
                 progress=False)


def one_by_one(model, dataset, config, masks):
    for s, m in enumerate(masks):
        train(plan_run(model, dataset, config, mask=m, seeds=(s,)), progress=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--masks", default="/tmp/sketchjax_bench_masks")
    args = p.parse_args()
    print(f"jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].device_kind}, "
          f"{os.cpu_count()} CPUs; XLA:CPU uses all cores by default")
    for name, (model, dataset, seeds, config) in SETTINGS.items():
        masks = masks_for(model, dataset, seeds, args.masks)
        small = config.replace(epochs=1)
        stacked(model, dataset, small, masks)           # compile both programs first
        one_by_one(model, dataset, small, masks)
        times = time_alternately(
            {"stacked": lambda: stacked(model, dataset, config, masks),
             "one by one": lambda: one_by_one(model, dataset, config, masks)}, args.repeats)
        print(f"{name}, {seeds} seeds, {config.epochs} epochs: "
              + summary(times, slow="one by one", fast="stacked", digits=1))


if __name__ == "__main__":
    main()
