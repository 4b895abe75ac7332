"""Prune a network at initialization and write its mask file.

    python prune.py --method synflow --chi-input                   # data-free, offline
    python prune.py --method snip --data sparse --selection layerwise_sample
    python prune.py --method grasp --data real --dataset cifar10   # needs CIFAR-10 on disk
    python prune.py --method imp --model lenet_300_100 --dataset mnist1d --density 0.2 \
        --imp-epochs 5                                             # lottery tickets (trains)

Prints a per-layer table of kept counts and densities; writes masks/<name>.npz (or --out).
A user mistake gets one line on stderr and exit status 2; nothing is written.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from sketchjax.errors import SketchjaxError
from sketchjax.imp_cli import add_imp_arguments, run_imp_from_args

METHODS = ("random", "magnitude", "snip", "grasp", "synflow", "imp")
SELECTIONS = ("threshold", "layerwise_sample", "sketch")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Prune a network at initialization (sketchjax).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--method", default="synflow", choices=METHODS)
    p.add_argument("--chi-input", action="store_true",
                   help="SynFlow input entries ||z||/sqrt(128), z ~ N(0, I), fresh every round "
                        "(the paper); default: all ones (reference SynFlow)")
    p.add_argument("--data", default="real", choices=("real", "normal", "sparse"),
                   help="pruning data of snip/grasp: the training set, N(0,1) images, or "
                        "sparse N(0,1) images (one image per pixel location)")
    p.add_argument("--selection", default="threshold", choices=SELECTIONS,
                   help="hard threshold; the paper's per-layer randomized mask; or "
                        "Algorithm 1 (global sketch, values count/(s p))")
    p.add_argument("--replacement", action="store_true",
                   help="layerwise_sample with replacement (Algorithm 1 inside each layer)")
    p.add_argument("--density", type=float, default=0.1,
                   help="fraction of prunable weights kept, in (0, 1]")
    p.add_argument("--rounds", type=int, default=None,
                   help="pruning rounds T (default: 100 for synflow, 1 otherwise)")
    p.add_argument("--schedule", default="exponential", choices=("exponential", "linear"))
    p.add_argument("--model", default="vgg19_bn")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256, help="prune batch size (snip/grasp)")
    p.add_argument("--num-batches", type=int, default=1, help="prune batches (snip/grasp)")
    p.add_argument("--snip-loss", default="cross_entropy", choices=("cross_entropy", "l1"))
    p.add_argument("--data-dir", default=None, help="tensorflow-datasets / offline data folder")
    p.add_argument("--out", default=None, help="mask file (default masks/<name>.npz)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    add_imp_arguments(p)
    return p


def default_name(args: argparse.Namespace) -> str:
    """A file name that says what the mask is."""
    parts = [args.model, args.dataset, args.method]
    if args.method == "synflow" and args.chi_input:
        parts.append("chi")
    if args.method in ("snip", "grasp"):
        parts.append(args.data)
    parts.append(args.selection + ("_repl" if args.replacement else ""))
    parts += [f"d{args.density:g}", f"seed{args.seed}"]
    return "_".join(parts)


def layer_table(metadata: dict) -> str:
    """Per-layer kept counts and densities as aligned text."""
    rows = [(path, v["kept"], v["size"], v["density"])
            for path, v in metadata["per_layer"].items()]
    width = max(len("layer"), *(len(r[0]) for r in rows))
    lines = [f"{'layer':<{width}}  {'kept':>10}  {'size':>10}  {'density':>8}"]
    lines += [f"{p:<{width}}  {k:>10,}  {n:>10,}  {d:>8.4f}" for p, k, n, d in rows]
    lines.append(f"{'total':<{width}}  {metadata['kept']:>10,}  {metadata['prunable']:>10,}  "
                 f"{metadata['realised_density']:>8.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> Path:
    """Validate everything cheap first, then prune and save. Returns the mask path."""
    # Imported here so that `--help` and flag errors answer instantly.
    import jax

    from sketchjax import inputs, masks, pruning
    from sketchjax.data.metadata import dataset_info
    from sketchjax.models.registry import create_model, init_model

    info = dataset_info(args.dataset)
    create_model(args.model, info.num_classes)           # unknown model: clear error now
    if args.method == "imp":
        return run_imp_from_args(args)
    config = pruning.PruneConfig(
        method=args.method, density=args.density, rounds=args.rounds,
        schedule=args.schedule, selection=args.selection, replacement=args.replacement,
        synflow_input="chi" if args.chi_input else "ones", data=args.data,
        batch_size=args.batch_size, num_batches=args.num_batches, snip_loss=args.snip_loss,
        seed=args.seed).validate()
    out = masks.writable_target(args.out or Path("masks") / f"{default_name(args)}.npz")
    real_data = None
    if args.method in ("snip", "grasp") and args.data == "real":
        real_data = inputs.real_batches(args.dataset, args.num_batches, args.batch_size,
                                        args.seed, args.data_dir)
    bundle = init_model(args.model, args.dataset, jax.random.key(args.seed))
    mask = pruning.prune(bundle, config, dataset=args.dataset, real_data=real_data,
                         progress=not args.quiet)
    masks.save_mask(out, mask)
    if not args.quiet:
        print(layer_table(mask.metadata))
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        out = run(args)
    except SketchjaxError as err:
        print(f"prune.py: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
