"""How long the pending runs will take, from throughput measured on this machine.

Training dominates every scale (paper scale: 160 epochs per run, 11-18 IMP levels per search),
so the estimate is the number of training steps of every pending run and IMP level times the
measured seconds per step of that model, batch and number of stacked seeds: a few steps on
random data timed after compilation (`step_seconds`), cached in DIR/throughput.json per device. Where finished
runs of the same kind are on disk, their measured wall time per run is used instead (it includes
pruning). Pruning alone is not estimated: at paper scale it is under 1% of a run.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from sketchjax.data.metadata import dataset_info
from sketchjax.imp import search_name, shared_levels
from sketchjax.records import read_json, write_json

from experiments.runs import RunSpec

THROUGHPUT_FILE = "throughput.json"
_TIMED_STEPS = 5


def step_seconds(model: str, dataset: str, batch_size: int, seeds: int,
                 cache: dict[str, float]) -> float:
    """Seconds per training step of `seeds` stacked seeds at `batch_size`, measured after
    compilation; cached.

    A large model (over a million parameters) on a CPU is timed for one seed at a batch of at
    most 32 and scaled linearly in batch and seeds (a CPU's throughput is nearly flat in both
    for such models, and timing VGG-19 at 3 x 128 images would take minutes); anything else is
    timed at the real batch and seed count.
    """
    from sketchjax.models.registry import abstract_model
    from sketchjax.trees import count_params
    large = count_params(abstract_model(model, dataset)[1]) > 1_000_000
    downscale = large and jax.default_backend() == "cpu"
    measured_batch = min(batch_size, 32) if downscale else batch_size
    measured_seeds = 1 if downscale else seeds
    scale = (batch_size / measured_batch) * (seeds / measured_seeds)
    batch_size, seeds = measured_batch, measured_seeds
    key = f"{jax.devices()[0].device_kind}|{model}|{dataset}|{batch_size}|{seeds}"
    if key not in cache:
        from sketchjax.data.streams import normal_batch_fn, normal_data_keys
        from sketchjax.training import plan_run, preset
        from sketchjax.training.loop import initial_state
        from sketchjax.training.steps import batch_sharding, compiled_steps, data_mesh
        plan = plan_run(model, dataset, preset("paper", batch_size=batch_size, epochs=1,
                                               checkpoint_every=0), seeds=range(seeds),
                        data="normal")
        mesh = data_mesh()
        train_fn, _ = compiled_steps(mesh, plan.stacked)
        sharding = batch_sharding(mesh, plan.stacked)
        make = normal_batch_fn(batch_size, plan.input_shape, plan.num_classes, sharding,
                               plan.stacked)
        keys = normal_data_keys(plan.seeds)
        keys = keys if plan.stacked else keys[0]
        state = jax.device_put(initial_state(plan), NamedSharding(mesh, PartitionSpec()))
        for t in range(2):     # compile, as the training loop calls it
            state, _ = train_fn(state, make(keys, jnp.int32(t)))
        jax.block_until_ready(state)
        begin = time.perf_counter()
        for t in range(_TIMED_STEPS):
            state, _ = train_fn(state, make(keys, jnp.int32(t + 2)))
        jax.block_until_ready(state)
        cache[key] = (time.perf_counter() - begin) / _TIMED_STEPS
    return cache[key] * scale


def _kind(run: RunSpec) -> tuple:
    return (run.method, run.model, run.dataset, run.recipe.epochs)


def estimate(pending: Sequence[Sequence[RunSpec]], finished: Sequence[dict[str, Any]],
             out) -> dict[str, Any]:
    """Estimated seconds of the pending groups.

    Args:
      pending: groups of runs still to do.
      finished: records of finished runs (their measured seconds per run are preferred).
      out: the output folder (the throughput cache lives there).
    Returns:
      {"seconds", "training_steps", "by": {"records" | "measured": seconds}, "device"}.
    """
    cache_path = Path(out) / THROUGHPUT_FILE
    cache = read_json(cache_path) if cache_path.exists() else {}
    per_run: dict[tuple, list[float]] = {}
    for record in finished:
        kind = (record["identity"]["mask"]["method"] if record["identity"]["mask"] != "dense"
                else "dense", record["model"], record["dataset"], record["epochs"])
        per_run.setdefault(kind, []).append(record["group_seconds"] / record["group_seeds"])
    seconds = {"records": 0.0, "measured": 0.0}
    steps_total = 0
    levels_counted: dict[str, int] = {}    # IMP search folder -> levels already counted
    for group in pending:
        run = group[0]
        spe = dataset_info(run.dataset).num_train // run.recipe.batch_size
        steps = run.recipe.epochs * spe
        imp_steps = 0
        for r in group if run.method == "imp" else ():
            # Levels shared with the search's other targets are trained once; an exact last
            # level (its own file) is trained for its target alone.
            search = search_name(r.model, r.dataset, r.mask.config)
            shared, total = shared_levels(r.model, r.dataset, r.mask.config, r.mask.num_classes)
            new_levels = max(0, shared - levels_counted.get(search, 0)) + total - shared
            imp_steps += new_levels * r.mask.config.epochs * spe
            levels_counted[search] = max(shared, levels_counted.get(search, 0))
        steps_total += steps + imp_steps
        kind = _kind(run)
        if per_run.get(kind):
            seconds["records"] += statistics.median(per_run[kind]) * len(group)
        else:   # no finished run of the kind: time a few training steps
            stacked = step_seconds(run.model, run.dataset, run.recipe.batch_size, len(group),
                                   cache)
            single = (step_seconds(run.model, run.dataset, run.recipe.batch_size, 1, cache)
                      if imp_steps else 0.0)
            seconds["measured"] += steps * stacked + imp_steps * single
    write_json(cache_path, cache)
    return {"seconds": seconds["records"] + seconds["measured"], "by": seconds,
            "training_steps": steps_total, "device": jax.devices()[0].device_kind}


def human(seconds: float) -> str:
    """'3 min 20 s', '5.2 h', '12.4 days'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


__all__ = ["estimate", "human", "step_seconds"]
