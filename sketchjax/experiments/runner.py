"""Running a sweep: masks from the library's `make_mask`, training from `plan_run` / `train`.

Each group of runs (one cell, every seed) is done in one go: the seeds' masks (shared files
under DIR/masks/, computed once), then one training program for all seeds (stacked masks and
initial weights), then one record per run. Runs whose record exists are skipped, so a killed
sweep, rerun, does only what is missing. Runners sharing an output folder claim each group
before they start it (`run_claims`), so they split the work without doing a run twice;
`--shard i/n` gives a process a fixed, disjoint share of the groups instead (an IMP search's
densities stay in one share).
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from sketchjax.errors import SketchjaxError
from sketchjax.mask_store import MaskOutcome, make_mask
from sketchjax.records import config_hash, write_json
from sketchjax.training import RunPaths, RunPlan, plan_run, rewind_start, train

from sketchjax.experiments import run_claims
from sketchjax.experiments.runs import RunSpec, groups, read_record, record_path, shard_key


@dataclasses.dataclass(frozen=True)
class Shard:
    """This process's share of the groups: those whose key hashes to `index` mod `count`."""
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            index, count = (int(t) for t in text.split("/"))
        except ValueError:
            raise SketchjaxError(f"--shard must be i/n with integers, got {text!r}") from None
        if not 0 <= index < count:
            raise SketchjaxError(f"--shard {text}: need 0 <= i < n")
        return cls(index, count)

    def owns(self, group: Sequence[RunSpec]) -> bool:
        return int(shard_key(group), 16) % self.count == self.index


def pending_groups(runs: Sequence[RunSpec], out, shard: Shard = Shard()) -> list[list[RunSpec]]:
    """This shard's groups, each cut down to its runs without a record."""
    todo = []
    for group in groups(runs):
        if not shard.owns(group):
            continue
        missing = [r for r in group if read_record(r, out) is None]
        if missing:
            todo.append(missing)
    return todo


def _job_folder(group: Sequence[RunSpec], out) -> Path:
    """Where a checkpointed group trains (resumable): DIR/jobs/<first run's name>_<seeds hash>."""
    return Path(out) / "jobs" / f"{group[0].name()}_{config_hash([r.seed for r in group])}"


def group_plan(group: Sequence[RunSpec], masks: Sequence[Optional[MaskOutcome]], out, *,
               data_dir=None) -> RunPlan:
    """The stacked training run of a group: each seed its mask and, for IMP tickets, its
    rewind point theta_K from step K (`rewind_start`, as `train_from_mask` does)."""
    first = group[0]
    job = _job_folder(group, out) if first.checkpoint else None
    dense = masks[0] is None
    start_step, init_variables = (0, ()) if dense else rewind_start(
        [m.mask for m in masks], [m.path for m in masks])
    masks = None if dense else [m.mask for m in masks]
    return plan_run(first.model, first.dataset, first.recipe, mask=masks,
                    seeds=[r.seed for r in group], data_dir=data_dir, out=job,
                    resume=job is not None and RunPaths(job).config.exists(),
                    start_step=start_step, init_variables=init_variables)


def run_group(group: Sequence[RunSpec], out, *, data_dir=None,
              progress: bool = False) -> list[dict[str, Any]]:
    """Masks, one stacked training run, and each run's record (the library's run record with
    `experiment` filled in, written last). Returns the records."""
    start = time.perf_counter()
    masks = [make_mask(r.mask, masks_dir=Path(out) / "masks", data_dir=data_dir,
                       progress=False, log=lambda s: None) if r.mask is not None else None
             for r in group]
    prune_seconds = time.perf_counter() - start
    plan = group_plan(group, masks, out, data_dir=data_dir)
    result = train(plan, progress=progress, epoch_lines=False)
    wall = time.perf_counter() - start
    records = []
    for run, mask, record in zip(group, masks, result.records):
        record = dict(record, mask_file=os.path.relpath(mask.path, out) if mask else None,
                      experiment={
                          "name": run.name(), "identity": run.identity(), "table": run.table,
                          "column": run.column, "density": run.density,
                          "mask_computed": bool(mask.computed) if mask else None,
                          "prune_seconds": round(prune_seconds, 3),
                          "group_seconds": round(wall, 3)})
        write_json(record_path(run, out), record)
        records.append(record)
    return records


def run_sweep(runs: Sequence[RunSpec], out, *, data_dir=None, shard: Shard = Shard(),
              progress: bool = True, log: Callable[[str], None] = print,
              run_fn: Callable = run_group, stale_after: float = run_claims.STALE_AFTER_S,
              poll_s: float = 5.0) -> int:
    """Do every missing run of this shard, one claimed group at a time; returns the runs done.

    Several runners may share `out`: each claims a group before it starts it
    (`run_claims.claim`) and skips groups another live runner holds; when its own are done it
    waits for those (polling every `poll_s` seconds) and takes over any whose runner died, so
    it returns only when every run of its shard has a record. One progress bar over the runs
    (done / to do, ETA); one line per run finished here.
    """
    from tqdm.auto import tqdm

    todo = pending_groups(runs, out, shard)
    total = sum(len(g) for g in todo)
    mine = [r for g in groups(runs) if shard.owns(g) for r in g]
    log(f"{len(mine) - total} of {len(mine)} runs done; {total} to do"
        + (f" (shard {shard.index}/{shard.count})" if shard.count > 1 else ""))
    bar = tqdm(total=total, unit="run", desc="runs", dynamic_ncols=True,
               disable=None if progress and total else True)   # None: off if not a tty
    done = 0
    try:
        while todo:
            held_elsewhere = []
            for group in todo:
                with run_claims.claim(out, shard_key(group), stale_after) as held:
                    missing = [r for r in group if read_record(r, out) is None]
                    if held is None and missing:
                        held_elsewhere.append(missing)
                        continue
                    bar.update(len(group) - len(missing))     # finished by another runner
                    if not missing:
                        continue
                    for record, run in zip(run_fn(missing, out, data_dir=data_dir), missing):
                        done += 1
                        bar.update(1)
                        bar.write(f"{run.label()}: test accuracy "
                                  f"{record['test_accuracy']:.4f} (density "
                                  f"{record['realised_density']:.4f})")
            todo = held_elsewhere
            if todo:
                bar.write(f"waiting for {len(todo)} group(s) other runners hold")
                time.sleep(poll_s)
    finally:
        bar.close()
    return done


def check_data_on_disk(runs: Sequence[RunSpec], data_dir=None) -> None:
    """Every dataset the runs train on must be on disk (one clear error, before any work)."""
    from sketchjax.data.pipelines import num_examples
    for dataset in sorted({r.dataset for r in runs}):
        num_examples(dataset, "train", data_dir)


def default_out() -> Path:
    return Path(os.environ.get("SKETCHJAX_EXPERIMENTS", "results/experiments"))


__all__ = ["Shard", "check_data_on_disk", "default_out", "pending_groups", "run_group",
           "run_sweep"]
