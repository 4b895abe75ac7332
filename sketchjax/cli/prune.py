"""Prune a network at initialization and write its mask file.

    sketchjax-prune --method synflow --chi-input                   # data-free, offline
    sketchjax-prune --method snip --data sparse --selection layerwise_sample
    sketchjax-prune --method grasp --data real --dataset cifar10   # needs CIFAR-10 on disk
    sketchjax-prune --method imp --model lenet_300_100 --dataset mnist1d --density 0.2 \
        --imp-epochs 5                                             # lottery tickets (trains)

The method flags come from the registered methods' options (`sketchjax.methods`); a flag the
chosen method does not have is an error.

Writes masks/<model>_<dataset>_<method>..._<config hash>.npz (or --out) and prints its per-layer
table; a mask that already exists with the same config is not recomputed (--force does). A user
mistake gets one line on stderr and exit status 2; nothing is written.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Optional, Sequence

from sketchjax import names
from sketchjax.errors import SketchjaxError


def build_parser(prog: str = "sketchjax-prune") -> argparse.ArgumentParser:
    """The flags: what to prune, then one flag per option of the registered methods."""
    from sketchjax import methods
    from sketchjax.methods.flags import add_method_flags
    p = argparse.ArgumentParser(prog=prog, description="Prune a network at initialization.")
    p.add_argument("--method", default="synflow", choices=methods.method_names(),
                   help="the pruning method (default: synflow)")
    p.add_argument("--model", default="vgg19_bn", choices=names.MODELS,
                   help="default: vgg19_bn")
    p.add_argument("--dataset", default="cifar10", choices=names.DATASETS,
                   help="default: cifar10")
    p.add_argument("--data-dir", help="tensorflow-datasets / offline data folder")
    p.add_argument("--out", help="mask file (default masks/<name>_<hash>.npz)")
    p.add_argument("--force", action="store_true", help="recompute even if the file exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    p.add_argument("--no-compile-cache", action="store_true",
                   help="no persistent compilation cache ($SKETCHJAX_COMPILE_CACHE=off too)")
    add_method_flags(p.add_argument_group(
        "method options (a flag names its methods where not every method has it)"))
    return p


def spec_from_args(args: argparse.Namespace):
    """The MaskSpec the flags describe (a flag the method lacks fails before jax loads)."""
    from sketchjax.methods.flags import method_from_args
    method = method_from_args(args.method, args)
    from sketchjax.mask_store import MaskSpec
    return MaskSpec(args.model, args.dataset, method)


def main(argv: Optional[Sequence[str]] = None, prog: str = "sketchjax-prune") -> int:
    """The command: `sketchjax-prune` (or `python prune.py` in a checkout, prog "prune.py")."""
    args = build_parser(prog).parse_args(argv)
    start = time.perf_counter()
    try:
        spec = spec_from_args(args)
        from sketchjax import compile_cache
        from sketchjax.mask_store import make_mask  # after parsing: --help answers at once
        from sketchjax.masks import layer_table
        if not args.no_compile_cache:
            compile_cache.enable()
        from sketchjax.masks import EmptyLayersWarning
        with warnings.catch_warnings():      # said once, below, for new and existing masks
            warnings.simplefilter("ignore", EmptyLayersWarning)
            outcome = make_mask(spec, out=args.out, force=args.force,
                                data_dir=args.data_dir, progress=not args.quiet,
                                log=(lambda s: None) if args.quiet else print)
    except SketchjaxError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    from sketchjax.masks import empty_layers_message
    empty = empty_layers_message(outcome.mask.info)
    if empty:
        print(f"{prog}: warning: {empty}", file=sys.stderr)
    if outcome.computed:
        if not args.quiet:
            print(layer_table(outcome.mask.info))
        print(f"wrote {outcome.path} ({time.perf_counter() - start:.1f} s)")
    else:
        print(f"{outcome.path} exists with the same config; skipped (--force recomputes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
