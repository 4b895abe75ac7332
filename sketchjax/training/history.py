"""A run's history: one row per seed and evaluated epoch, and the console line of an epoch."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np

from sketchjax.training.plan import RunPlan


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
