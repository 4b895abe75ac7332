"""Orbax checkpoints of a TrainState (with its optimizer state, mask and BN statistics).

Checkpoints are taken at epoch boundaries, together with the metric history, so a run killed
anywhere and resumed from its latest checkpoint ends with the same parameters as an
uninterrupted run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import jax

from sketchjax.training.steps import TrainState


def checkpoint_manager(directory: Path, keep: int):
    """An orbax CheckpointManager keeping the last `keep` checkpoints of (state, meta)."""
    import orbax.checkpoint as ocp
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           cleanup_tmp_directories=True)
    return ocp.CheckpointManager(directory.absolute(), options=options,
                                 item_names=("state", "meta"))


def _checkpoint_tree(state: TrainState) -> dict:
    return {"step": state.step, "params": state.params, "batch_stats": state.batch_stats,
            "opt_state": state.opt_state, "mask": state.mask}


def save_checkpoint(manager, state: TrainState, meta: Mapping[str, Any]) -> None:
    """Save the state (step = its global step) and a JSON `meta` record."""
    import orbax.checkpoint as ocp
    step = int(jax.device_get(state.step if state.step.ndim == 0 else state.step[0]))
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(_checkpoint_tree(state)),
        meta=ocp.args.JsonSave(dict(meta))))


def restore_checkpoint(manager, state: TrainState) -> tuple[TrainState, dict]:
    """The latest checkpoint restored into `state`'s structure and shardings, and its meta."""
    import orbax.checkpoint as ocp
    step = manager.latest_step()
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        _checkpoint_tree(state))
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    tree = restored["state"]
    return state.replace(**tree), dict(restored["meta"])
