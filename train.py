"""Train a pruned network from its mask file (or a dense one) and report its test accuracy.

    python train.py --mask masks/lenet_mnist1d.npz --epochs 20 --out runs/lenet_mnist1d
    python train.py --mask masks/x.npz --seeds 0,1,2          # three seeds in one program
    python train.py --dense --model resnet20 --dataset cifar10
    python train.py --mask masks/x.npz --out runs/x --resume  # continue a killed run

Model, dataset, class count and seed come from the mask's metadata (flags override them).
The recipe is the paper's (SGD 0.1, momentum 0.9, wd 1e-4, x0.1 at epochs 80 and 120, 160
epochs, batch 128), or the LeNet protocol for lenet_300_100 (Adam 1.2e-3, batch 60); every
value has a flag. The run folder gets config.json, metrics.csv/json, tensorboard/,
checkpoints/ and, at the end, summary.json. A user mistake gets one line on stderr and exit
status 2, before anything is written.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from sketchjax.errors import SketchjaxError

PRESET_CHOICES = ("auto", "paper", "lenet")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.replace(" ", "").split(",") if t != "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py", description="Train a masked (or dense) network (sketchjax).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_argument_group("what to train")
    src.add_argument("--mask", default=None, help="mask file written by prune.py")
    src.add_argument("--dense", action="store_true", help="train without a mask")
    src.add_argument("--model", default=None, help="model (default: the mask's)")
    src.add_argument("--dataset", default=None, help="dataset (default: the mask's)")
    src.add_argument("--num-classes", type=int, default=None,
                     help="classifier width (default: the mask's, else the dataset's)")
    src.add_argument("--mask-mode", choices=("binary", "scaled"), default=None,
                     help="binary: train the mask's support from the initial weights; scaled: "
                          "initial weights times the mask values (default binary)")
    src.add_argument("--no-rewind", action="store_true",
                     help="for an IMP mask: start from the initial weights at step 0 instead "
                          "of its rewind point theta_K at step K")
    rec = p.add_argument_group("recipe (defaults: the preset's)")
    rec.add_argument("--preset", choices=PRESET_CHOICES, default="auto",
                     help="auto = lenet for lenet_300_100, paper otherwise")
    rec.add_argument("--epochs", type=int, default=None)
    rec.add_argument("--optimizer", choices=("sgd", "adam"), default=None)
    rec.add_argument("--lr", type=float, default=None)
    rec.add_argument("--momentum", type=float, default=None)
    rec.add_argument("--nesterov", action="store_true", default=None)
    rec.add_argument("--weight-decay", type=float, default=None)
    rec.add_argument("--milestones", type=_int_list, default=None,
                     help="epochs of the lr drops, e.g. 80,120 ('' = none)")
    rec.add_argument("--gamma", type=float, default=None, help="lr factor at each milestone")
    rec.add_argument("--batch-size", type=int, default=None)
    rec.add_argument("--no-augment", action="store_true", help="no crop/flip augmentation")
    run = p.add_argument_group("run")
    run.add_argument("--seed", type=int, default=None,
                     help="training seed (default: the mask's, else 0)")
    run.add_argument("--seeds", type=_int_list, default=None,
                     help="several training seeds at once (vmap), e.g. 0,1,2")
    run.add_argument("--init-seed", type=int, default=None,
                     help="seed of the initial weights (default: the mask's seed, i.e. the "
                          "weights it was computed for; for --dense each training seed)")
    run.add_argument("--eval-every", type=int, default=None,
                     help="evaluate every K epochs (0 = only at the end; default 1)")
    run.add_argument("--eval-batch-size", type=int, default=None)
    run.add_argument("--log-every", type=int, default=None,
                     help="steps between host syncs for the progress bar")
    run.add_argument("--checkpoint-every", type=int, default=None,
                     help="epochs between checkpoints (0 = none; default 1)")
    run.add_argument("--keep-checkpoints", type=int, default=None)
    run.add_argument("--out", default=None,
                     help="run folder (default runs/<mask name or model_dataset_dense>_<hash>)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out from its latest checkpoint")
    run.add_argument("--data-dir", default=None, help="tensorflow-datasets / offline data folder")
    run.add_argument("--quiet", action="store_true", help="no progress bar, no epoch lines")
    return p


_OVERRIDES = {  # flag attribute -> TrainConfig field
    "epochs": "epochs", "optimizer": "optimizer", "lr": "lr", "momentum": "momentum",
    "nesterov": "nesterov", "weight_decay": "weight_decay", "milestones": "milestones",
    "gamma": "gamma", "batch_size": "batch_size", "mask_mode": "mask_mode",
    "eval_every": "eval_every", "eval_batch_size": "eval_batch_size",
    "log_every": "log_every", "checkpoint_every": "checkpoint_every",
    "keep_checkpoints": "keep_checkpoints",
}


def train_config(args: argparse.Namespace, model: str):
    """The preset with the flags that were given applied on top."""
    from sketchjax import training
    name = args.preset if args.preset != "auto" else (
        "lenet" if model == "lenet_300_100" else "paper")
    changes = {field: getattr(args, flag) for flag, field in _OVERRIDES.items()
               if getattr(args, flag) is not None}
    if args.no_augment:
        changes["augment"] = False
    return training.preset(name, **changes).validate(), name


def default_out(stem: str, identity: dict) -> Path:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    return Path("runs") / f"{stem}_{digest}"


def run(args: argparse.Namespace) -> dict:
    """Validate everything cheap, then train. Returns the summary record."""
    # Imported here so that --help and flag errors answer instantly.
    from sketchjax import imp, training
    from sketchjax.masks import load_mask

    if args.dense and args.mask:
        raise SketchjaxError("give either --mask or --dense, not both")
    mask = None
    if args.mask:
        mask = load_mask(args.mask)
        meta = mask.metadata
        model = args.model or meta.get("model")
        dataset = args.dataset or meta.get("dataset")
        num_classes = args.num_classes if args.num_classes is not None else meta.get(
            "num_classes")
        if not model or not dataset:
            raise SketchjaxError(f"{args.mask} names no model/dataset; pass --model and "
                                 "--dataset")
        default_seed = int(meta.get("seed", 0))
    elif args.dense:
        if not args.model or not args.dataset:
            raise SketchjaxError("--dense needs --model and --dataset")
        model, dataset, num_classes, default_seed = (args.model, args.dataset,
                                                     args.num_classes, 0)
    else:
        raise SketchjaxError("nothing to train: give --mask FILE, or --dense with --model and "
                             "--dataset")
    if args.seeds is not None and args.seed is not None:
        raise SketchjaxError("give either --seed or --seeds, not both")
    seeds = args.seeds if args.seeds is not None else (
        (args.seed,) if args.seed is not None else (default_seed,))
    config, preset_name = train_config(args, model)

    init_variables, start_step, rewind = None, 0, None
    if mask is not None and mask.metadata.get("rewind") and not args.no_rewind:
        rewind = dict(mask.metadata["rewind"])
        start_step = int(rewind.get("step", 0))
        init_variables = imp.load_variables(rewind["file"])
    record = {"mask_file": str(Path(args.mask).resolve()) if args.mask else None,
              "preset": preset_name, "rewind": rewind}
    stem = Path(args.mask).stem if args.mask else f"{model}_{dataset}_dense"
    out = args.out or default_out(stem, {"model": model, "dataset": dataset,
                                         "seeds": list(seeds), "init_seed": args.init_seed,
                                         "train": config.to_dict(), **record})
    plan = training.plan_run(model, dataset, config, mask=mask, seeds=seeds,
                             init_seed=args.init_seed, num_classes=num_classes,
                             data_dir=args.data_dir, out=out, resume=args.resume,
                             start_step=start_step, record=record)
    if init_variables is not None:
        from sketchjax.masks import validate_mask
        validate_mask(mask, init_variables["params"], f"the rewind point {rewind['file']}")
    if not args.quiet:
        what = f"mask {args.mask}" if args.mask else "dense"
        print(f"training {model} on {dataset} ({what}), seeds {list(plan.seeds)}, "
              f"{config.epochs} epochs x {plan.steps_per_epoch} steps, preset {preset_name}"
              + (f", from rewind step {start_step}" if rewind else "") + f" -> {plan.paths.root}")
    result = training.train(model, dataset, config, plan=plan, progress=not args.quiet,
                            init_variables=init_variables)
    return result.summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        summary = run(args)
    except SketchjaxError as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("train.py: interrupted; continue with the same flags and --resume",
              file=sys.stderr)
        return 130
    acc = summary["test_accuracy"]
    best = summary["best_test_accuracy"]
    spread = (f" +- {summary['test_accuracy_std']:.4f} over {len(summary['seeds'])} seeds"
              if len(summary["seeds"]) > 1 else "")
    print(f"test accuracy {acc:.4f}{spread} (best {best:.4f}) after {summary['epochs']} "
          f"epochs; density {summary['density']:.4f} ({summary['kept']:,} of "
          f"{summary['prunable']:,} prunable weights); {time.perf_counter() - start:.1f} s")
    print(f"wrote {Path(summary['run_dir']) / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
