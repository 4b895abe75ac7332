"""Prune a network at initialization and write its mask file.

    python prune.py --method synflow --chi-input                   # data-free, offline
    python prune.py --method snip --data sparse --selection layerwise_sample
    python prune.py --method grasp --data real --dataset cifar10   # needs CIFAR-10 on disk
    python prune.py --method imp --model lenet_300_100 --dataset mnist1d --density 0.2 \
        --imp-epochs 5                                             # lottery tickets (trains)

Writes masks/<model>_<dataset>_<method>..._<config hash>.npz (or --out) and prints its per-layer
table; a mask that already exists with the same config is not recomputed (--force does). A user
mistake gets one line on stderr and exit status 2; nothing is written.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

from sketchjax import names
from sketchjax.errors import SketchjaxError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prune.py", description="Prune a network at initialization.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--method", default="synflow", choices=names.METHODS)
    p.add_argument("--chi-input", action="store_true", help="SynFlow input ||z||/sqrt(128), "
                   "z ~ N(0, I), fresh every round (the paper); default: all ones")
    p.add_argument("--data", default="real", choices=names.PRUNE_DATA + ("normal_fixed",),
                   help="snip/grasp data: the training set, N(0,1) images, or sparse ones; imp: "
                   "real, normal (fresh noise) or normal_fixed (a fixed random set)")
    p.add_argument("--selection", default="threshold", choices=names.SELECTIONS, help="hard "
                   "threshold; the paper's per-layer randomized mask; Algorithm 1 (global)")
    p.add_argument("--replacement", action="store_true",
                   help="layerwise_sample with replacement (Algorithm 1 inside each layer)")
    p.add_argument("--density", type=float, default=0.1, help="fraction kept, in (0, 1]")
    p.add_argument("--rounds", type=int, default=None, help="default: synflow 100, others 1")
    p.add_argument("--schedule", default="exponential", choices=names.SCHEDULES)
    p.add_argument("--model", default="vgg19_bn", choices=names.MODELS)
    p.add_argument("--dataset", default="cifar10", choices=names.DATASETS)
    p.add_argument("--seed", type=int, default=0, help="initial weights and all pruning draws")
    p.add_argument("--batch-size", type=int, default=256, help="prune batch (snip/grasp)")
    p.add_argument("--num-batches", type=int, default=1, help="prune batches (snip/grasp)")
    p.add_argument("--snip-loss", default="cross_entropy", choices=names.SNIP_LOSSES)
    p.add_argument("--signed-weighting", default="positive", choices=names.SIGNED_WEIGHTINGS,
                   help="grasp/random with a randomized selection: sample signed scores in "
                   "proportion to max(score, 0), to score - layer min, or to their rank")
    p.add_argument("--data-dir", default=None, help="tensorflow-datasets / offline data folder")
    p.add_argument("--out", default=None, help="mask file (default masks/<name>_<hash>.npz)")
    p.add_argument("--force", action="store_true", help="recompute even if the file exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    p.add_argument("--no-compile-cache", action="store_true",
                   help="no persistent compilation cache ($SKETCHJAX_COMPILE_CACHE=off too)")
    imp = p.add_argument_group("iterative magnitude pruning (--method imp)")
    imp.add_argument("--rewind-iters", type=int, default=None, help="rewind step K (default: "
                     "the paper's, vgg19 1000, resnet20 cifar10 2000 / cifar100 6000, else 0)")
    imp.add_argument("--imp-rate", type=float, default=0.2, help="pruned per level")
    imp.add_argument("--imp-output-rate", type=float, default=None,
                     help="the classifier's own rate (with --output-layer prune; LeNet: 0.1)")
    imp.add_argument("--imp-epochs", type=int, default=None,
                     help="epochs per level (default: the model's training preset)")
    imp.add_argument("--output-layer", choices=names.OUTPUT_LAYER_MODES, default=None,
                     help="prune the classifier or leave it dense (default: the model's)")
    imp.add_argument("--imp-exact-final", action="store_true",
                     help="prune the last level to the target density exactly")
    return p


def spec_from_args(args: argparse.Namespace):
    """The MaskSpec the flags describe."""
    from sketchjax.imp import IMPConfig
    from sketchjax.mask_store import MaskSpec
    from sketchjax.pruning import PruneConfig

    if args.method == "imp":
        if args.replacement:
            raise SketchjaxError("--replacement does not apply to --method imp")
        config = IMPConfig(density=args.density, rate=args.imp_rate,
                           output_rate=args.imp_output_rate,
                           rewind_iters=args.rewind_iters, epochs=args.imp_epochs,
                           output_layer=args.output_layer, exact_final=args.imp_exact_final,
                           data=args.data, selection=args.selection, seed=args.seed)
    else:
        config = PruneConfig(
            method=args.method, density=args.density, rounds=args.rounds,
            schedule=args.schedule, selection=args.selection, replacement=args.replacement,
            synflow_input="chi" if args.chi_input else "ones", data=args.data,
            batch_size=args.batch_size, num_batches=args.num_batches,
            snip_loss=args.snip_loss, signed_weighting=args.signed_weighting, seed=args.seed)
    return MaskSpec(args.model, args.dataset, config)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        from sketchjax import compile_cache
        from sketchjax.mask_store import make_mask  # after parsing: --help answers at once
        from sketchjax.masks import layer_table
        if not args.no_compile_cache:
            compile_cache.enable()
        outcome = make_mask(spec_from_args(args), out=args.out, force=args.force,
                            data_dir=args.data_dir, progress=not args.quiet,
                            log=(lambda s: None) if args.quiet else print)
    except SketchjaxError as err:
        print(f"prune.py: error: {err}", file=sys.stderr)
        return 2
    if outcome.computed:
        if not args.quiet:
            print(layer_table(outcome.mask.metadata))
        print(f"wrote {outcome.path} ({time.perf_counter() - start:.1f} s)")
    elif args.quiet:
        print(f"{outcome.path} exists with the same config; skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
