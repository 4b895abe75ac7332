"""Train a pruned network from its mask file (or a dense one); print its test accuracy.

    sketchjax-train --mask masks/<name>.npz --epochs 20        # model, dataset, seed: the mask's
    sketchjax-train --mask masks/<name>.npz --seeds 0,1,2      # three seeds in one program
    sketchjax-train --dense --model resnet20 --dataset cifar10
    sketchjax-train --mask masks/<name>.npz --out runs/x --resume   # continue a killed run

Policy (recipe, rewind point, run folder) lives in `sketchjax.training.from_mask`. A user
mistake gets one line on stderr and exit status 2, before anything is written.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

from sketchjax import names
from sketchjax.errors import SketchjaxError

_RECIPE_FLAGS = ("epochs", "optimizer", "lr", "momentum", "nesterov", "weight_decay",
                 "milestones", "gamma", "batch_size", "mask_mode", "eval_every",
                 "eval_batch_size", "log_every", "checkpoint_every", "keep_checkpoints")


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def build_parser(prog: str = "sketchjax-train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train a masked (or dense) network.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_argument_group("what to train")
    src.add_argument("--mask", default=None, help="mask file written by prune.py")
    src.add_argument("--dense", action="store_true", help="train without a mask")
    src.add_argument("--model", default=None, choices=names.MODELS, help="default: the mask's")
    src.add_argument("--dataset", default=None, choices=names.DATASETS,
                     help="default: the mask's")
    src.add_argument("--num-classes", type=int, default=None, help="default: the mask's")
    src.add_argument("--mask-mode", choices=names.MASK_MODES, default=None, help="binary: the "
                     "mask's support from the initial weights; scaled: weights x mask values")
    src.add_argument("--no-rewind", action="store_true", help="IMP mask: start from the "
                     "initial weights at step 0, not its rewind point theta_K at step K")
    rec = p.add_argument_group("recipe (defaults: the preset's)")
    rec.add_argument("--preset", choices=("auto",) + names.PRESETS, default="auto",
                     help="auto: the model's (lenet for lenet_300_100, else paper)")
    rec.add_argument("--optimizer", choices=names.OPTIMIZERS, default=None)
    rec.add_argument("--nesterov", action="store_true", default=None)
    rec.add_argument("--milestones", type=_ints, default=None, help="lr drop epochs ('' = none)")
    rec.add_argument("--no-augment", action="store_true", help="no crop/flip augmentation")
    for flag, kind in (("epochs", int), ("lr", float), ("momentum", float), ("gamma", float),
                       ("weight-decay", float), ("batch-size", int)):
        rec.add_argument(f"--{flag}", type=kind, default=None)
    run = p.add_argument_group("run")
    run.add_argument("--seed", type=int, default=None, help="default: the mask's, else 0")
    run.add_argument("--seeds", type=_ints, default=None, help="several at once, e.g. 0,1,2")
    run.add_argument("--init-seed", type=int, default=None,
                     help="initial weights (default: the mask's seed; dense: each seed's)")
    run.add_argument("--eval-every", type=int, default=None, help="epochs (0 = only at the end)")
    run.add_argument("--checkpoint-every", type=int, default=None, help="epochs (0 = none)")
    for flag in ("eval-batch-size", "log-every", "keep-checkpoints"):
        run.add_argument(f"--{flag}", type=int, default=None)
    run.add_argument("--out", default=None, help="run folder (default runs/<name>_<hash>)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out")
    run.add_argument("--data-dir", default=None, help="tensorflow-datasets / offline data folder")
    run.add_argument("--quiet", action="store_true", help="no progress bar, no epoch lines")
    run.add_argument("--no-compile-cache", action="store_true",
                     help="no persistent compilation cache ($SKETCHJAX_COMPILE_CACHE=off too)")
    dist = p.add_argument_group("several processes (one per host; docs/training.md)")
    dist.add_argument("--coordinator", default=None, help="host:port of process 0")
    dist.add_argument("--num-processes", type=int, default=None)
    dist.add_argument("--process-id", type=int, default=None)
    dist.add_argument("--distributed", action="store_true",
                      help="join with the cluster's own detection (SLURM, Open MPI, Cloud TPU)")
    return p


def overrides_from_args(args: argparse.Namespace):
    """The TrainOverrides the flags describe."""
    from sketchjax.training import TrainOverrides

    if args.dense == bool(args.mask):
        raise SketchjaxError("give either --mask FILE, or --dense with --model and --dataset")
    if args.seeds is not None and args.seed is not None:
        raise SketchjaxError("give either --seed or --seeds, not both")
    changes = {f: getattr(args, f) for f in _RECIPE_FLAGS if getattr(args, f) is not None}
    if args.no_augment:
        changes["augment"] = False
    seeds = args.seeds if args.seeds is not None else (
        (args.seed,) if args.seed is not None else None)
    return TrainOverrides(model=args.model, dataset=args.dataset, num_classes=args.num_classes,
                          preset=None if args.preset == "auto" else args.preset,
                          recipe=changes, seeds=seeds,
                          init_seed=args.init_seed, rewind=not args.no_rewind,
                          data_dir=args.data_dir, out=args.out, resume=args.resume)


def main(argv: Optional[Sequence[str]] = None, prog: str = "sketchjax-train") -> int:
    """The command: `sketchjax-train` (or `python train.py` in a checkout, prog "train.py")."""
    args = build_parser(prog).parse_args(argv)
    start = time.perf_counter()
    try:
        from sketchjax import compile_cache
        from sketchjax.training import plan_from_mask, train  # after parsing: --help is instant
        if not args.no_compile_cache:
            compile_cache.enable()
        if args.distributed or args.coordinator or args.num_processes is not None \
                or args.process_id is not None:
            from sketchjax.training.distributed import initialize
            initialize(args.coordinator, args.num_processes, args.process_id)
        plan = plan_from_mask(args.mask, overrides_from_args(args))
        if not args.quiet:
            print(plan.describe())
        records = train(plan, progress=not args.quiet).records
    except SketchjaxError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; continue with the same flags and --resume", file=sys.stderr)
        return 130
    from sketchjax.training.run_record import summary_line
    print(f"{summary_line(records)}; {time.perf_counter() - start:.1f} s")
    print("wrote " + ", ".join(str(plan.paths.record(s)) for s in plan.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
