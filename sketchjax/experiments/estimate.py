"""How long the pending runs will take, from throughput measured on this machine.

Training dominates every scale (paper scale: 160 epochs per run, 11-18 IMP levels per search),
so the estimate is the number of training steps of every pending run and IMP level times the
measured seconds per step of that model, recipe and number of stacked seeds, plus each run's
(and each IMP level's) start: the training loop itself on random data, timed after compilation
(`step_seconds`), cached in DIR/throughput.json per device. Where finished runs of the same
kind are on disk, their measured wall time per run is used instead (it includes pruning).
Pruning alone is not estimated: at paper scale it is under 1% of a run. An IMP search a figure
needs is estimated the same way (`imp_search_seconds`).
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Sequence

import jax

from sketchjax.data.metadata import dataset_info
from sketchjax.imp import level_files, search_name, shared_levels
from sketchjax.methods import IMP
from sketchjax.records import read_json, write_json

from sketchjax.experiments.runs import RunSpec, run_seconds

THROUGHPUT_FILE = "throughput.json"
# At least this many steps and this much time (a millisecond step timed 5 times reads ~30% slow).
_TIMED_STEPS = 5
_TIMED_SECONDS = 0.5


def step_seconds(model: str, dataset: str, recipe, seeds: int,
                 cache: dict[str, float]) -> tuple[float, float]:
    """(seconds per training step, seconds to start a run) of `seeds` stacked seeds with this
    recipe (a TrainConfig: its optimizer and batch size), measured on the training loop itself
    (`training.train`, after compilation); cached. A run's start (initial weights, optimizer,
    data stream) is paid once per run and once per IMP level.

    A large model (over a million parameters) on a CPU is timed for one seed at a batch of at
    most 32 and scaled linearly in batch and seeds (a CPU's throughput is nearly flat in both
    for such models, and timing VGG-19 at 3 x 128 images would take minutes); anything else is
    timed at the real batch and seed count.
    """
    from sketchjax.models.registry import abstract_model
    from sketchjax.trees import count_params
    batch_size = recipe.batch_size
    large = count_params(abstract_model(model, dataset)[1]) > 1_000_000
    downscale = large and jax.default_backend() == "cpu"
    measured_batch = min(batch_size, 32) if downscale else batch_size
    measured_seeds = 1 if downscale else seeds
    scale = (batch_size / measured_batch) * (seeds / measured_seeds)
    batch_size, seeds = measured_batch, measured_seeds
    key = (f"{jax.devices()[0].device_kind}|{model}|{dataset}|{recipe.optimizer}|{batch_size}|"
           f"{seeds}")
    if key not in cache:
        from sketchjax.training import plan_run, train
        # The training loop itself on random data (no data set needed), timed as the
        # difference of two stopping points so that initialisation and compilation cancel.
        plan = plan_run(model, dataset, recipe.replace(batch_size=batch_size, epochs=10_000,
                                                       eval_every=0, checkpoint_every=0),
                        seeds=range(seeds), data="normal")

        def loop_seconds(steps: int) -> float:
            begin = time.perf_counter()
            jax.block_until_ready(train(plan, stop_step=steps, progress=False,
                                        epoch_lines=False).state)
            return time.perf_counter() - begin

        loop_seconds(2)                              # compile
        steps = _TIMED_STEPS
        while True:     # until the extra steps alone take _TIMED_SECONDS (noise << signal)
            short, long = loop_seconds(steps), loop_seconds(2 * steps)
            if long - short >= _TIMED_SECONDS or 8 * steps > plan.end_step:
                break
            steps *= 4
        step = max(long - short, 0.0) / steps
        cache[key], cache[key + "|start"] = step, max(short - steps * step, 0.0)
    return cache[key] * scale, cache[key + "|start"]


def imp_search_seconds(model: str, dataset: str, config, masks_dir,
                       cache: dict[str, float]) -> tuple[float, int]:
    """(seconds, training steps) of the levels of an IMP search (a validated `IMP`) not yet
    in `masks_dir`, at one seed's measured step time."""
    search = Path(masks_dir) / search_name(model, dataset, config)
    missing = sum(not p.exists() for p in level_files(search, model, dataset, config))
    steps = missing * config.epochs * (dataset_info(dataset).num_train // config.train.batch_size)
    if not steps:
        return 0.0, 0
    step, start = step_seconds(model, dataset, config.train, 1, cache)
    return steps * step + missing * start, steps


def _kind(run: RunSpec) -> tuple:
    return (run.method, run.model, run.dataset, run.recipe.epochs)


def load_throughput(out) -> dict[str, float]:
    """The measured step times cached in DIR/throughput.json ({} if none)."""
    path = Path(out) / THROUGHPUT_FILE
    return read_json(path) if path.exists() else {}


def save_throughput(out, cache: dict[str, float]) -> None:
    write_json(Path(out) / THROUGHPUT_FILE, cache)


def estimate(pending: Sequence[Sequence[RunSpec]], finished: Sequence[dict[str, Any]],
             out) -> dict[str, Any]:
    """Estimated seconds of the pending groups.

    Args:
      pending: groups of runs still to do.
      finished: records of finished runs (their measured seconds per run are preferred).
      out: the output folder (the throughput cache lives there).
    Returns:
      {"seconds", "training_steps", "by": {"records" | "measured": seconds},
       "per_group": seconds of each pending group, "device"}.
    """
    cache = load_throughput(out)
    per_run: dict[tuple, list[float]] = {}
    for record in finished:
        kind = (record["method"], record["model"], record["dataset"], record["epochs"])
        per_run.setdefault(kind, []).append(run_seconds(record))
    seconds = {"records": 0.0, "measured": 0.0}
    per_group = []
    steps_total = 0
    levels_counted: dict[str, int] = {}    # IMP search folder -> levels already counted
    for group in pending:
        run = group[0]
        spe = dataset_info(run.dataset).num_train // run.recipe.batch_size
        steps = run.recipe.epochs * spe
        imp_steps = imp_levels = 0
        for r in group if run.mask is not None and isinstance(run.mask.config, IMP) else ():
            # Levels shared with the search's other targets are trained once; an exact last
            # level (its own file) is trained for its target alone.
            search = search_name(r.model, r.dataset, r.mask.config)
            shared, total = shared_levels(r.model, r.dataset, r.mask.config, r.mask.num_classes)
            new_levels = max(0, shared - levels_counted.get(search, 0)) + total - shared
            imp_steps += new_levels * r.mask.config.epochs * spe
            imp_levels += new_levels
            levels_counted[search] = max(shared, levels_counted.get(search, 0))
        steps_total += steps + imp_steps
        kind = _kind(run)
        if per_run.get(kind):
            per_group.append(statistics.median(per_run[kind]) * len(group))
            seconds["records"] += per_group[-1]
        else:   # no finished run of the kind: time a few training steps
            stacked, start = step_seconds(run.model, run.dataset, run.recipe, len(group), cache)
            single, level_start = (step_seconds(run.model, run.dataset, run.recipe, 1, cache)
                                   if imp_steps else (0.0, 0.0))
            per_group.append(steps * stacked + start + imp_steps * single
                             + imp_levels * level_start)
            seconds["measured"] += per_group[-1]
    save_throughput(out, cache)
    return {"seconds": seconds["records"] + seconds["measured"], "by": seconds,
            "per_group": per_group, "training_steps": steps_total,
            "device": jax.devices()[0].device_kind}


def human(seconds: float) -> str:
    """'3 min 20 s', '5.2 h', '12.4 days'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        seconds = round(seconds)
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


__all__ = ["estimate", "human", "imp_search_seconds", "load_throughput", "save_throughput",
           "step_seconds"]
