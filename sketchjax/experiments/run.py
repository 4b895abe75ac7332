"""Reproduce the paper's tables and figures.

    sketchjax-experiments table1 --scale cpu                # offline, minutes on a laptop
    sketchjax-experiments all --scale cpu
    sketchjax-experiments all --scale paper --dry-run       # the plan and its time estimate
    sketchjax-experiments table2 --scale paper --shard 0/4  # one of four GPUs

Writes DIR/<scale>/<table>.md (+ .csv, .json), DIR/<scale>/<figure>.png (+ .json, .csv) and
DIR/<scale>/claims.md; every run lives in DIR/runs/<name>_<hash>/ and is skipped once its
record exists, so a killed sweep, rerun, does only what is missing. A user mistake gets one line
on stderr and exit status 2, before anything is written.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from sketchjax.experiments.presets import SCALES, TARGETS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sketchjax-experiments",
                                description="Reproduce the paper's tables and figures.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("target", choices=TARGETS + ("all",))
    p.add_argument("--scale", choices=SCALES, default="cpu")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: the scale's)")
    p.add_argument("--out", default=None,
                   help="output folder (default $SKETCHJAX_EXPERIMENTS or results/experiments)")
    p.add_argument("--only", default=None, help="only runs whose label contains this text")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs, how many are done, and the estimated time")
    p.add_argument("--shard", default=None, help="i/n: this process's share of the runs")
    p.add_argument("--data-dir", default=None, help="tensorflow-datasets / offline data folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-compile-cache", action="store_true",
                   help="no persistent compilation cache ($SKETCHJAX_COMPILE_CACHE=off too)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from sketchjax.errors import SketchjaxError

    from sketchjax import compile_cache

    from sketchjax.experiments.reproduce import dry_run, make_request, reproduce
    from sketchjax.experiments.runner import default_out
    if not args.no_compile_cache:
        compile_cache.enable()
    try:
        request = make_request(args.target, args.scale, seeds=args.seeds,
                               out=args.out or default_out(), only=args.only,
                               shard=args.shard, data_dir=args.data_dir)
        if args.dry_run:
            dry_run(request)
        else:
            reproduce(request, progress=not args.quiet)
    except SketchjaxError as err:
        print(f"sketchjax-experiments: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sketchjax-experiments: interrupted; rerun the same command to finish the missing runs",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
