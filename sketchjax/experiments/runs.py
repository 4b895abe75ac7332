"""Runs: one (column, model, dataset, density, seed) cell of a table, named by its config.

A run's identity is everything its result depends on: the model, the dataset, the mask's full
spec (or "dense"), the training recipe and the seed. Its folder is
`DIR/runs/<model>_<dataset>_<method>..._<hash of the identity>/` and its result is
`record.json` there (the library's run record, with `experiment` filled in), written last: a run whose record exists is done. Runs that differ only in
their seed form a group, trained together in one compiled program (one mask and one set of
initial weights per seed), so a killed sweep loses at most one group.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from sketchjax.mask_store import MaskSpec
from sketchjax.records import config_hash, identity_name, read_json
from sketchjax.training import TrainConfig, preset
from sketchjax.training.run_files import RECORD_FILE

from sketchjax.experiments.presets import DENSE, TABLE_COLUMNS, Column, Scale, mask_config



@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of one seed.

    Attributes:
      table, column: where it is shown (not part of its identity).
      model, dataset, density, seed: the cell.
      mask: the MaskSpec (validated) or None for a dense run.
      recipe: the training recipe.
      checkpoint: keep checkpoints of the group's training (resumable mid-run).
    """
    table: str
    column: str
    model: str
    dataset: str
    density: float
    seed: int
    mask: Optional[MaskSpec]
    recipe: TrainConfig
    checkpoint: bool = False

    def identity(self) -> dict[str, Any]:
        """What the result depends on; its hash names the run. An IMP ticket's start (its
        rewind point, or theta_0 for a mask found on random data) is part of it."""
        identity = {"model": self.model, "dataset": self.dataset, "seed": self.seed,
                    "mask": self.mask.record() if self.mask is not None else "dense",
                    "train": self.recipe.to_dict()}
        if self.mask is not None and self.mask.config.ticket_start is not None:
            identity["start"] = self.mask.config.ticket_start
        return identity

    def group_identity(self) -> dict[str, Any]:
        """The identity without the seed: runs of one group train together."""
        identity = self.identity()
        del identity["seed"]
        if self.mask is not None:
            config = dict(identity["mask"]["config"])
            del config["seed"]
            identity["mask"] = dict(identity["mask"], config=config)
        return identity

    @property
    def method(self) -> str:
        return self.mask.method if self.mask is not None else "dense"

    def name(self) -> str:
        """<model>_<dataset>_<method>[_<selection>]_d<density>_seed<seed>_<hash>."""
        parts = [self.model, self.dataset, self.method]
        if self.mask is not None:
            parts.append(self.mask.config.selection)
        return identity_name([*parts, f"d{self.density:g}", f"seed{self.seed}"],
                             self.identity())

    def folder(self, out: str | os.PathLike) -> Path:
        return Path(out) / "runs" / self.name()

    def label(self) -> str:
        """A line's worth for people: table, column, cell and seed."""
        return (f"{self.table} | {self.column} | {self.model}/{self.dataset} | "
                f"d={self.density:g} | seed {self.seed}")


def record_path(run: RunSpec, out: str | os.PathLike) -> Path:
    return run.folder(out) / RECORD_FILE


def read_record(run: RunSpec, out: str | os.PathLike) -> Optional[dict[str, Any]]:
    """The run's record (`sketchjax.training.run_record`), or None if it has not finished.
    A record of an earlier version (flat, before the one run record) is read with its
    fields where the readers look for them (`_upgraded`)."""
    path = record_path(run, out)
    if not path.exists():
        return None
    record = read_json(path)
    return record if "experiment" in record else _upgraded(record)


_EXPERIMENT_FIELDS = ("name", "identity", "table", "column", "density", "mask_computed",
                      "prune_seconds", "group_seconds")


def _upgraded(old: Mapping[str, Any]) -> dict[str, Any]:
    """An earlier runner record in the run record's layout: its runner fields under
    `experiment`, the method named at the top (fields it never had stay absent)."""
    mask = old["identity"]["mask"]
    record = {k: v for k, v in old.items() if k not in _EXPERIMENT_FIELDS}
    record["method"] = "dense" if mask == "dense" else mask["method"]
    record["experiment"] = {k: old.get(k) for k in _EXPERIMENT_FIELDS}
    return record


def run_seconds(record: Mapping[str, Any]) -> float:
    """A finished run's wall time: its share of its group's (masks and training)."""
    return record["experiment"]["group_seconds"] / record["group_seeds"]


def training_recipe(scale: Scale, model: str) -> TrainConfig:
    """The scale's recipe for a model (its checkpoints as the scale says)."""
    name, changes = scale.recipe[model]
    changes = dict(changes)
    if not scale.checkpoint:
        changes["checkpoint_every"] = 0
    return preset(name, **changes).validate()


def _spec(column: Column, scale: Scale, model: str, dataset: str, density: float,
          seed: int) -> Optional[MaskSpec]:
    config = mask_config(column, scale, model, density, seed)
    return None if config is None else MaskSpec(model, dataset, config).validated()


def table_runs(table: str, scale: Scale, seeds: Optional[int] = None) -> list[RunSpec]:
    """Every run of a table at a scale: the dense row, then each column, in table order.

    Args:
      table: one of TABLES.
      scale: the Scale.
      seeds: overrides the scale's seed count.
    """
    runs = []
    n_seeds = seeds or scale.seeds
    for model, dataset in scale.settings.get(table, ()):
        recipe = training_recipe(scale, model)
        cells = [(DENSE, 1.0)] + [(c, d) for d in scale.densities for c in TABLE_COLUMNS[table]
                                  if c.method != "imp" or scale.imp_densities is None
                                  or d in scale.imp_densities]
        for column, density in cells:
            for seed in range(n_seeds):
                runs.append(RunSpec(table, column.name, model, dataset, density, seed,
                                    _spec(column, scale, model, dataset, density, seed),
                                    recipe, scale.checkpoint))
    return runs


def unique(runs: Iterable[RunSpec]) -> list[RunSpec]:
    """The runs without repeats (a run two tables share is kept once, the first time)."""
    seen, out = set(), []
    for run in runs:
        key = run.name()
        if key not in seen:
            seen.add(key)
            out.append(run)
    return out


def groups(runs: Sequence[RunSpec]) -> list[list[RunSpec]]:
    """Runs that differ only in their seed, in order of first appearance."""
    by_key: dict[str, list[RunSpec]] = {}
    for run in runs:
        by_key.setdefault(config_hash(run.group_identity()), []).append(run)
    return list(by_key.values())


def shard_key(group: Sequence[RunSpec]) -> str:
    """Groups with the same key go to the same shard: work a method shares across densities
    (IMP's search, `Method.shared_record`) must not run in two processes at once."""
    run = group[0]
    identity = run.group_identity()
    shared = run.mask.config.shared_record if run.mask is not None else None
    if shared is not None:     # the group identity holds no seed: nor does the key
        identity["mask"] = dict(identity["mask"],
                                config={k: v for k, v in shared.items() if k != "seed"})
    return config_hash(identity)

