"""The run record: one per trained seed, the same schema whoever trains it.

`train` writes one to `<run folder>/seed_<s>/record.json` for each seed; the experiment
runner writes the same record to its run's folder with `experiment` filled in. The tables,
the estimate and `train.py`'s last line read nothing else. The fields are listed in
docs/training.md ("The run record").
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np

from sketchjax import trees
from sketchjax.masks import density_summary, mask_id
from sketchjax.training.history import host
from sketchjax.training.plan import RunPlan
from sketchjax.training.steps import TrainState
from sketchjax.version import versions


def _seed_arrays(tree, i: int, stacked: bool) -> dict[str, np.ndarray]:
    """Seed i's leaves of a (possibly seed-stacked) tree, on the host, by path."""
    return {p: host(v[i] if stacked else v) for p, v in trees.flatten(tree).items()}


def _pruned_nonzero(params: Mapping[str, np.ndarray], mask: Mapping[str, np.ndarray]) -> int:
    """Weights the mask prunes that are not exactly 0 after training (must be 0)."""
    return sum(int(np.count_nonzero(params[p][np.broadcast_to(m == 0, params[p].shape)]))
               for p, m in mask.items())


def _accuracies(history: Sequence[Mapping[str, Any]]) -> tuple[Optional[float], ...]:
    """(final, best) test accuracy and the last epoch's train accuracy of one seed's rows."""
    evaluated = [r["test_accuracy"] for r in history if r["test_accuracy"] is not None]
    return (evaluated[-1] if evaluated else None, max(evaluated) if evaluated else None,
            history[-1]["train_accuracy"] if history else None)


def seed_records(plan: RunPlan, state: TrainState, history: Sequence[Mapping[str, Any]],
                 wall_seconds: float, num_devices: int) -> list[dict[str, Any]]:
    """One run record per seed of a finished run, in the order of `plan.seeds`.

    Args:
      plan: the run's plan.
      state: the final TrainState (leaves with a leading seed axis when `plan.stacked`).
      history: the run's rows (`history.epoch_rows`), every seed's.
      wall_seconds: the training program's wall time (all seeds together).
      num_devices: devices the program ran on.
    """
    records = []
    train_seconds = round(sum(r["epoch_seconds"] for r in history if r["seed"] == plan.seeds[0]),
                          3)
    for i, seed in enumerate(plan.seeds):
        mask = _seed_arrays(state.mask, i, plan.stacked)
        density = density_summary(mask)
        source = plan.mask_of(i)
        info = source.info if source is not None else None
        rows = [r for r in history if r["seed"] == seed]
        final, best, train_accuracy = _accuracies(rows)
        records.append({
            "seed": seed, "init_seed": plan.init_seeds[i], "group_seeds": len(plan.seeds),
            "model": plan.model, "dataset": plan.dataset, "num_classes": plan.num_classes,
            "data": plan.data, "method": info.method if info is not None else "dense",
            "mask": mask_id(source) if source is not None else None,
            "mask_file": plan.record.get("mask_file"), "mask_mode": plan.config.mask_mode,
            "start_step": plan.start_step, "train": plan.config.to_dict(),
            "test_accuracy": final, "best_test_accuracy": best,
            "final_train_accuracy": train_accuracy,
            "realised_density": density["density"],
            # An IMP search may leave the classifier dense: its density over the layers it
            # prunes is what its target names.
            "realised_density_pruned_layers": (
                info.pruned_density if info is not None and info.pruned_density is not None
                else density["density"]),
            "kept": density["kept"], "prunable": density["size"],
            "per_layer": density["per_layer"],
            "pruned_weights_nonzero": _pruned_nonzero(
                _seed_arrays(state.params, i, plan.stacked), mask),
            "epochs": plan.config.epochs, "steps": int(host(state.step).max()),
            "steps_per_epoch": plan.steps_per_epoch, "train_seconds": train_seconds,
            "wall_seconds": round(wall_seconds, 3), "devices": num_devices,
            "device_kind": jax.devices()[0].device_kind, "history": rows,
            "versions": versions(), "experiment": None,
        })
    return records


def summary_line(records: Sequence[Mapping[str, Any]]) -> str:
    """'test accuracy 0.5432 +- 0.0100 over 3 seeds (best ...) after E epochs; density ...':
    means (and the std) over the seeds' records."""
    final = [r["test_accuracy"] for r in records if r["test_accuracy"] is not None]
    best = [r["best_test_accuracy"] for r in records if r["best_test_accuracy"] is not None]
    if not final:
        return f"no evaluation (no test split) after {records[0]['epochs']} epochs"
    spread = f" +- {np.std(final):.4f} over {len(records)} seeds" if len(records) > 1 else ""
    r = records[0]
    return (f"test accuracy {np.mean(final):.4f}{spread} (best {np.mean(best):.4f}) after "
            f"{r['epochs']} epochs; density {np.mean([x['realised_density'] for x in records]):.4f}"
            f" ({r['kept']:,} of {r['prunable']:,} prunable weights)")
