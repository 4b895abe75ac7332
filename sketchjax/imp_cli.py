"""The IMP flags of prune.py (`--method imp`) and the function that runs them.

    python prune.py --method imp --model lenet_300_100 --dataset mnist1d --density 0.2 \
        --imp-epochs 5 --out masks/lenet_imp.npz

`run_imp_from_args` reads the common prune.py flags (model, dataset, density, seed, data,
selection, data_dir, out, quiet) plus the ones `add_imp_arguments` adds. Levels are kept in
`<out without .npz>_imp/` (rewind.npz, level_XX.npz, levels.json), so an interrupted search
resumes at its next level when the same command is run again.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sketchjax.errors import SketchjaxError


def add_imp_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --rewind-iters, --imp-rate, --imp-epochs, --output-layer, --imp-exact-final."""
    group = parser.add_argument_group("iterative magnitude pruning (--method imp)")
    group.add_argument("--rewind-iters", type=int, default=None,
                       help="rewind step K (default: the paper's, vgg19 1000, resnet20 "
                            "cifar10 2000 / cifar100 6000, otherwise 0)")
    group.add_argument("--imp-rate", type=float, default=0.2,
                       help="fraction of the remaining weights pruned per level")
    group.add_argument("--imp-epochs", type=int, default=None,
                       help="training epochs per level (default: the training preset's: "
                            "160, or 50 for lenet_300_100)")
    group.add_argument("--output-layer", choices=("prune", "ignore"), default=None,
                       help="prune the classifier with the rest, or leave it dense (default: "
                            "prune for ResNets, ignore for VGG and LeNet, as OpenLTH)")
    group.add_argument("--imp-exact-final", action="store_true",
                       help="prune the last level to the target density exactly instead of "
                            "stopping at the first level at or below it")
    return parser


def default_mask_path(args: argparse.Namespace) -> Path:
    """masks/<model>_<dataset>_imp_<data>_<selection>_d<density>_seed<seed>.npz."""
    name = "_".join([args.model, args.dataset, "imp", args.data, args.selection,
                     f"d{args.density:g}", f"seed{args.seed}"])
    return Path("masks") / f"{name}.npz"


def run_imp_from_args(args: argparse.Namespace) -> Path:
    """Run (or resume) IMP from parsed prune.py flags; returns the final mask's path.

    Raises:
      SketchjaxError: bad flags (data other than real/normal, selection other than
        threshold/layerwise_sample), unknown names, a dataset not on disk, an unwritable out.
    """
    from sketchjax import imp, training
    from sketchjax.masks import writable_target

    if args.data not in training.TRAIN_DATA:
        raise SketchjaxError(f"--method imp supports --data {' or '.join(training.TRAIN_DATA)},"
                             f" not {args.data!r}")
    if args.selection not in imp.IMP_SELECTIONS:
        raise SketchjaxError(f"--method imp supports --selection "
                             f"{' or '.join(imp.IMP_SELECTIONS)}, not {args.selection!r}")
    if getattr(args, "replacement", False):
        raise SketchjaxError("--replacement does not apply to --method imp")
    out = writable_target(args.out or default_mask_path(args))
    workdir = out.with_name(out.stem + "_imp")
    train_config = training.preset("lenet" if args.model == "lenet_300_100" else "paper")
    config = imp.IMPConfig(
        density=args.density, rate=args.imp_rate, rewind_iters=args.rewind_iters,
        epochs=args.imp_epochs, output_layer=args.output_layer,
        exact_final=args.imp_exact_final, data=args.data, selection=args.selection,
        seed=args.seed, train=train_config)
    quiet = getattr(args, "quiet", False)
    result = imp.run_imp(args.model, args.dataset, config, workdir, out=out,
                         data_dir=getattr(args, "data_dir", None), progress=not quiet,
                         log=(lambda s: None) if quiet else print)
    return result.mask_path


__all__ = ["add_imp_arguments", "default_mask_path", "run_imp_from_args"]
