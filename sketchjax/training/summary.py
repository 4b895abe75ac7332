"""The records a run produces: one history row per seed and epoch, the console line of an
epoch, and the final summary (summary.json)."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np

from sketchjax import trees
from sketchjax.masks import density_summary
from sketchjax.training.plan import RunPlan
from sketchjax.training.steps import TrainState
from sketchjax.version import versions


def host(x) -> np.ndarray:
    """A device array as a numpy array (a host sync)."""
    return np.asarray(jax.device_get(x))


def epoch_rows(plan: RunPlan, epoch: int, step: int, lr: float, train_sums,
               test_sums, seconds: float) -> list[dict[str, Any]]:
    """One history row per seed from device sums (the only host sync of an epoch)."""
    train_sums = ({k: np.atleast_1d(host(v)) for k, v in train_sums.items()}
                  if train_sums is not None else None)
    test_sums = ({k: np.atleast_1d(host(v)) for k, v in test_sums.items()}
                 if test_sums is not None else None)
    rows = []
    for i, seed in enumerate(plan.seeds):
        row = {"seed": seed, "epoch": epoch, "step": step, "lr": lr,
               "train_loss": None, "train_accuracy": None, "test_loss": None,
               "test_accuracy": None, "epoch_seconds": round(seconds, 3)}
        count = float(train_sums["count"][i]) if train_sums else 0.0
        if count:
            row["train_loss"] = float(train_sums["loss_sum"][i]) / count
            row["train_accuracy"] = float(train_sums["correct"][i]) / count
        if test_sums is not None:
            n = float(test_sums["count"][i])
            row["test_loss"] = float(test_sums["loss_sum"][i]) / n
            row["test_accuracy"] = float(test_sums["correct"][i]) / n
        rows.append(row)
    return rows


def epoch_line(rows: Sequence[Mapping[str, Any]], epochs: int) -> str:
    """'epoch  3/20  lr ...  train loss ...  acc ...  test loss ...  acc ...' (mean over seeds)."""
    def fmt(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return "-" if not vals else f"{np.mean(vals):.4f}"
    r = rows[0]
    seeds = f" ({len(rows)} seeds, mean)" if len(rows) > 1 else ""
    return (f"epoch {r['epoch']:>3}/{epochs}  lr {r['lr']:.4g}  train loss {fmt('train_loss')}"
            f"  acc {fmt('train_accuracy')}  test loss {fmt('test_loss')}  acc "
            f"{fmt('test_accuracy')}  {r['epoch_seconds']:.1f}s{seeds}")


def _mean_std(values) -> tuple[Optional[float], Optional[float]]:
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals))


def run_summary(plan: RunPlan, state: TrainState, history: Sequence[Mapping[str, Any]],
                wall_seconds: float, num_devices: int) -> dict[str, Any]:
    """The summary record: final and best test accuracy (mean, std, per seed), the trained
    mask's density, a count of pruned weights that are not exactly 0 (must be 0), timings and
    the versions."""
    flat_masks = trees.flatten(state.mask)
    per_seed_density = [
        density_summary({p: host(m[i] if plan.stacked else m) for p, m in flat_masks.items()})
        for i in range(len(plan.seeds))]
    density = per_seed_density[0]
    leaked = 0
    flat_params = trees.flatten(state.params)
    for p, m in trees.flatten(state.mask).items():
        values = host(flat_params[p])
        leaked += int(np.count_nonzero(values[np.broadcast_to(host(m) == 0, values.shape)]))
    per_seed: dict[int, list[Mapping[str, Any]]] = {s: [] for s in plan.seeds}
    for row in history:
        per_seed.setdefault(row["seed"], []).append(row)
    final, best = [], []
    for s in plan.seeds:
        evaluated = [r["test_accuracy"] for r in per_seed[s] if r["test_accuracy"] is not None]
        final.append(evaluated[-1] if evaluated else None)
        best.append(max(evaluated) if evaluated else None)
    mean_final, std_final = _mean_std(final)
    last = [per_seed[s][-1] for s in plan.seeds if per_seed[s]]
    return {
        "test_accuracy": mean_final,
        "test_accuracy_std": std_final,
        "best_test_accuracy": _mean_std(best)[0],
        "test_accuracy_per_seed": final,
        "best_test_accuracy_per_seed": best,
        "final_train_accuracy": _mean_std([r.get("train_accuracy") for r in last])[0],
        "epochs": plan.config.epochs,
        "steps": int(host(state.step).max()),
        "steps_per_epoch": plan.steps_per_epoch,
        "seeds": list(plan.seeds),
        "init_seeds": list(plan.init_seeds),
        "model": plan.model,
        "dataset": plan.dataset,
        "num_classes": plan.num_classes,
        "data": plan.data,
        "dense": not plan.masks,
        "mask_mode": plan.config.mask_mode,
        "density": density["density"],
        "kept": density["kept"],
        "prunable": density["size"],
        "per_layer": density["per_layer"],
        "density_per_seed": [d["density"] for d in per_seed_density],
        "pruned_weights_nonzero": leaked,
        "mask_metadata": (None if not plan.masks else dict(plan.masks[0].metadata)
                          if len(plan.masks) == 1 else [dict(m.metadata) for m in plan.masks]),
        "run_dir": str(plan.paths.root) if plan.paths is not None else None,
        "wall_seconds": round(wall_seconds, 3),
        "train_seconds": round(sum(r["epoch_seconds"] for r in history
                                   if r["seed"] == plan.seeds[0]), 3),
        "devices": num_devices,
        "device_kind": jax.devices()[0].device_kind,
        "config": plan.identity(),
        "versions": versions(),
    }


def summary_line(s: Mapping[str, Any]) -> str:
    """'test accuracy 0.5432 +- 0.01 over 3 seeds (best ...) after E epochs; density ...'."""
    spread = (f" +- {s['test_accuracy_std']:.4f} over {len(s['seeds'])} seeds"
              if len(s["seeds"]) > 1 else "")
    return (f"test accuracy {s['test_accuracy']:.4f}{spread} (best "
            f"{s['best_test_accuracy']:.4f}) after {s['epochs']} epochs; density "
            f"{s['density']:.4f} ({s['kept']:,} of {s['prunable']:,} prunable weights)")
