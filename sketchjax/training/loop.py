"""The training loop: `train(plan)` runs a planned run to its end (or to `stop_step`), with
per-epoch evaluation, metrics, checkpoints and the run records; `evaluate` scores the test split.

Determinism: the batches of epoch e come from the seeded pipelines (`start_epoch=e`) and the
random-data variant draws batch t from fold_in(key(seed), t); checkpoints are taken at epoch
boundaries, so a run killed anywhere and resumed from its latest checkpoint ends with the same
parameters as an uninterrupted run. The only host syncs inside an epoch are the progress bar's,
every `log_every` steps.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterator, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from sketchjax.data.pipelines import eval_batches
from sketchjax.data.streams import (fixed_random_stream, normal_batch_fn, normal_data_keys,
                                    real_train_stream)
from sketchjax.models.registry import init_model
from sketchjax.records import read_json, write_json
from sketchjax.training.checkpoints import (checkpoint_manager, restore_checkpoint,
                                            save_checkpoint)
from sketchjax.training.distributed import is_main_process
from sketchjax.training.optimizer import learning_rate_schedule, make_optimizer
from sketchjax.training.plan import RunPlan
from sketchjax.training.run_files import RunPaths, ScalarWriter, write_metrics
from sketchjax.training.steps import (TrainState, add_sums, batch_sharding, compiled_steps,
                                      create_train_state, data_mesh, put_batch)
from sketchjax.training.history import epoch_line, epoch_rows, host
from sketchjax.training.run_record import seed_records


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
      state: the final TrainState (leaves have a leading seed axis when several seeds ran).
      history: one record per (seed, finished epoch).
      records: one run record per seed (`run_record`; also written to the run folder's
        seed_<s>/record.json); None when the run stopped before its end (`stop_step`).
      paths: the run's files, or None.
      seeds: the training seeds, in the order of the state's leading axis.
    """
    state: TrainState
    history: list[dict[str, Any]]
    records: Optional[list[dict[str, Any]]]
    paths: Optional[RunPaths]
    seeds: tuple[int, ...]


def _pad(batch: Mapping[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Pad an eval batch to `size` rows; "weight" marks the real ones."""
    n = len(batch["label"])
    out = {"weight": np.concatenate([np.ones(n, np.float32), np.zeros(size - n, np.float32)])}
    for k in ("image", "label"):
        v = np.asarray(batch[k])
        out[k] = (np.concatenate([v, np.zeros((size - n,) + v.shape[1:], v.dtype)])
                  if n < size else v)
    return out


def test_batches(dataset: str, batch_size: int, data_dir, mesh: Mesh) -> list[dict]:
    """The test split as host batches padded to `batch_size` rounded up to a multiple of the
    devices (so the evaluation compiles once), read once per run."""
    n_dev = mesh.devices.size
    batch_size = -(-batch_size // n_dev) * n_dev
    return [_pad(batch, batch_size) for batch in eval_batches(dataset, batch_size, data_dir)]


def evaluate(state: TrainState, dataset: str, batch_size: int = 1000, data_dir=None, *,
             mesh: Optional[Mesh] = None, stacked: bool = False,
             batches: Optional[list[dict]] = None) -> dict[str, jax.Array]:
    """Test-split sums {"loss_sum", "correct", "count"} (per seed when `stacked`), on device.

    `batches`: the split from `test_batches` (read here when None).
    """
    mesh = mesh or data_mesh()
    _, eval_fn = compiled_steps(mesh, stacked)
    sharding = batch_sharding(mesh, False)
    total = None
    for batch in batches if batches is not None else test_batches(dataset, batch_size,
                                                                  data_dir, mesh):
        sums = eval_fn(state, put_batch(batch, sharding))
        total = sums if total is None else add_sums(total, sums)
    return total


def _stack(items):
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *items)


def initial_state(plan: RunPlan) -> TrainState:
    """The state at plan.start_step: params * mask from the initialisers (or the plan's
    initial variables), a fresh optimizer; stacked over seeds when several."""
    tx = make_optimizer(plan.config, plan.steps_per_epoch, plan.start_step)
    bundles: dict[int, Any] = {}
    states = []
    for i, s in enumerate(plan.init_seeds):
        if s not in bundles:
            bundles[s] = init_model(plan.model, plan.dataset, jax.random.key(s),
                                    num_classes=plan.num_classes)
        bundle = bundles[s]
        variables = plan.variables_of(i) or {}
        params = variables.get("params", bundle.params)
        stats = variables.get("batch_stats", bundle.batch_stats)
        mask = plan.mask_of(i)
        states.append(create_train_state(bundle.module, params, stats,
                                         mask.values() if mask is not None else None, tx,
                                         mask_mode=plan.config.mask_mode,
                                         step=plan.start_step))
    if not plan.stacked:
        return states[0]
    return states[0].replace(**{k: _stack([getattr(s, k) for s in states])
                                for k in ("step", "params", "opt_state", "batch_stats", "mask")})


def _batch_source(plan: RunPlan, step: int, sharding: NamedSharding) -> Callable[[int], dict]:
    """step -> the device batch of that global step, starting at `step`."""
    if plan.data == "real":   # a mid-epoch start (IMP's rewind point) reads from there
        stream: Iterator = real_train_stream(plan.dataset, plan.config.batch_size, plan.seeds,
                                             plan.data_dir, plan.config.augment,
                                             *divmod(step, plan.steps_per_epoch))
        return lambda t: put_batch(next(stream), sharding)
    if plan.data == "normal_fixed":
        stream = fixed_random_stream(plan.num_train, plan.config.batch_size, plan.input_shape,
                                     plan.num_classes, plan.seeds, step, sharding)
        return lambda t: next(stream)
    generator = normal_batch_fn(plan.config.batch_size, plan.input_shape, plan.num_classes,
                                sharding, plan.stacked)
    keys = normal_data_keys(plan.seeds)
    keys = keys if plan.stacked else keys[0]
    return lambda t: generator(keys, jnp.int32(t))


def train(plan: RunPlan, *, stop_step: Optional[int] = None, progress: bool = True,
          epoch_lines: bool = True) -> TrainResult:
    """Train the planned run, evaluating every `eval_every` epochs.

    Args:
      plan: from `plan_run` (or `plan_from_mask`).
      stop_step: return after this global step (no records unless it is the end); IMP trains
        its rewind point this way.
      progress: a tqdm bar (when stderr is a terminal) and, with `epoch_lines`, one line per
        epoch.
      epoch_lines: print the per-epoch line (IMP turns it off).
    Returns:
      a TrainResult.
    """
    from tqdm.auto import tqdm

    wall_start = time.perf_counter()
    config, paths, spe = plan.config, plan.paths, plan.steps_per_epoch
    end_step = plan.end_step
    stop = end_step if stop_step is None else min(int(stop_step), end_step)
    is_main = is_main_process()
    mesh = data_mesh()
    train_fn, _ = compiled_steps(mesh, plan.stacked)
    state = jax.device_put(initial_state(plan), NamedSharding(mesh, PartitionSpec()))

    history: list[dict[str, Any]] = []
    manager = None
    if paths is not None and is_main:
        paths.root.mkdir(parents=True, exist_ok=True)
        write_json(paths.config, plan.identity())
    if paths is not None and (config.checkpoint_every or plan.resume):
        manager = checkpoint_manager(paths.checkpoints, config.keep_checkpoints)
        if plan.resume and manager.latest_step() is not None:
            state, meta = restore_checkpoint(manager, state)
            history = list(meta.get("history", []))
    step = int(host(state.step).max())

    def finish() -> TrainResult:
        records = None
        if step >= end_step:
            records = seed_records(plan, state, history, time.perf_counter() - wall_start,
                                   int(mesh.devices.size))
            if paths is not None and is_main:
                for record in records:
                    write_json(paths.record(record["seed"]), record)
        return TrainResult(state, history, records, paths, plan.seeds)

    if step >= stop:  # a finished run resumed: report it again, its timings as measured
        written = [paths.record(s) for s in plan.seeds] if paths is not None else []
        if step >= end_step and written and all(f.exists() for f in written):
            return TrainResult(state, history, [read_json(f) for f in written], paths,
                               plan.seeds)
        return finish()
    next_batch = _batch_source(plan, step, batch_sharding(mesh, plan.stacked))
    writers = ({s: ScalarWriter(paths.tensorboard / f"seed_{s}") for s in plan.seeds}
               if paths is not None and is_main else {})
    schedule = learning_rate_schedule(config, spe)
    bar = tqdm(total=stop - step, desc=f"{plan.model}/{plan.dataset}", unit="step",
               disable=None if (progress and is_main) else True,  # None: off if not a tty
               leave=False, dynamic_ncols=True)
    test_set: Optional[list[dict]] = None   # read at the first evaluation, kept for the next
    try:
        epoch_start = time.perf_counter()
        sums = None
        while step < stop:
            state, metrics = train_fn(state, next_batch(step))
            sums = metrics if sums is None else add_sums(sums, metrics)
            step += 1
            bar.update(1)
            if step % config.log_every == 0 and progress and is_main:
                h = {k: np.atleast_1d(host(v)) for k, v in sums.items()}
                bar.set_postfix(epoch=-(-step // spe),
                                loss=f"{h['loss_sum'].sum() / h['count'].sum():.4f}",
                                acc=f"{h['correct'].sum() / h['count'].sum():.4f}")
            if step % spe:  # mid-epoch; stopped there: no record, no checkpoint (as killed)
                continue
            epoch = step // spe
            at_end = step == end_step
            evaluate_now = plan.num_test is not None and (
                at_end or (config.eval_every and epoch % config.eval_every == 0))
            test_sums = None
            if evaluate_now:
                test_set = test_set or test_batches(plan.dataset, config.eval_batch_size,
                                                    plan.data_dir, mesh)
                test_sums = evaluate(state, plan.dataset, mesh=mesh, stacked=plan.stacked,
                                     batches=test_set)
            rows = epoch_rows(plan, epoch, step, float(schedule(step - 1)), sums, test_sums,
                              time.perf_counter() - epoch_start)
            history.extend(rows)
            sums = None
            if is_main:
                for row in rows if writers else ():
                    writers[row["seed"]].scalars(row["epoch"], {
                        "train/loss": row["train_loss"], "train/accuracy": row["train_accuracy"],
                        "test/loss": row["test_loss"], "test/accuracy": row["test_accuracy"],
                        "lr": row["lr"]})
                if paths is not None:
                    write_metrics(paths, history)
                if progress and epoch_lines:
                    bar.write(epoch_line(rows, config.epochs))
            if manager is not None and config.checkpoint_every and (
                    epoch % config.checkpoint_every == 0 or at_end):
                save_checkpoint(manager, state, {"history": history, "epoch": epoch})
            epoch_start = time.perf_counter()
    finally:
        bar.close()
        for w in writers.values():
            w.close()
        if manager is not None:
            manager.wait_until_finished()
            manager.close()
    return finish()
