"""Training a mask file: the policy that turns a mask (or a dense request) into a run plan.

The mask's metadata supplies the model, dataset, class count and seed (the seed of the weights
it was computed for); the model registry supplies the default recipe (`ModelSpec.preset`); an
IMP mask names its rewind point theta_K, and the run starts from it at step K, as the lottery-
ticket procedure does; an IMP mask found on random data starts from theta_0 at step 0
(`ticket_start`). Any of these can be overridden (`TrainOverrides`). A run folder is named
runs/<mask file stem>_<hash of the run's settings>.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sketchjax.errors import SketchjaxError
from sketchjax.masks import Mask, load_mask
from sketchjax.models.registry import model_spec
from sketchjax.records import config_hash
from sketchjax.training.config import TrainConfig, preset
from sketchjax.training.loop import TrainResult, train
from sketchjax.training.plan import RunPlan, plan_run
from sketchjax.variables import load_variables

DEFAULT_RUNS_DIR = "runs"


@dataclasses.dataclass(frozen=True)
class TrainOverrides:
    """What to change from the defaults a mask file (or the model registry) gives.

    Attributes:
      model, dataset, num_classes: default: the mask's (a dense run must give model, dataset).
      preset: the recipe's starting point; None = the model's (`ModelSpec.preset`).
      recipe: TrainConfig fields to change, e.g. {"epochs": 20, "lr": 0.05}.
      seeds: training seeds (several train together); None = the mask's seed, or 0.
      init_seed: seed of the initial weights; None = the mask's seed (each seed's if dense).
      rewind: start an IMP mask from its rewind point theta_K at step K (False: from the
        initial weights at step 0).
      data: "real", "normal" or "normal_fixed" training data (`RunPlan.data`).
      data_dir: tfds data dir / offline cache dir.
      out: the run folder; None = <runs_dir>/<mask stem or model_dataset_dense>_<hash>.
      runs_dir: where default run folders go.
      resume: continue the run in `out` from its latest checkpoint.
    """
    model: Optional[str] = None
    dataset: Optional[str] = None
    num_classes: Optional[int] = None
    preset: Optional[str] = None
    recipe: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    seeds: Optional[Sequence[int]] = None
    init_seed: Optional[int] = None
    rewind: bool = True
    data: str = "real"
    data_dir: Any = None
    out: Optional[str | os.PathLike] = None
    runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR
    resume: bool = False


def recipe(model: str, preset_name: Optional[str] = None,
           changes: Mapping[str, Any] = {}) -> tuple[TrainConfig, str]:
    """(the validated TrainConfig, the preset's name): `preset_name` or the model's, changed."""
    name = preset_name or model_spec(model).preset
    return preset(name, **dict(changes)).validate(), name


def ticket_start(data: str) -> str:
    """Where the final network of an IMP search on `data` trains from.

    "rewind": theta_K at step K, the lottery-ticket procedure (real data). "init": theta_0 at
    step 0, for a mask found on random data and then trained on real data, as the paper's
    authors transfer masks in their fork of OpenLTH (lottery/branch/cross_domain.py trains a
    level's mask from the state at '0ep', step 0); theta_K of a random-data search was
    trained on noise.
    """
    return "rewind" if data == "real" else "init"


def _ticket_rewind(metadata: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The rewind point a mask's ticket starts from, or None (not IMP, or found on random
    data: `ticket_start`, whatever an older file's metadata names)."""
    rewind = metadata.get("rewind")
    data = (metadata.get("inputs") or {}).get("data", "real")
    return rewind if rewind and ticket_start(data) == "rewind" else None


def rewind_start(masks: Sequence[Mask]) -> tuple[int, tuple[dict[str, Any], ...]]:
    """Where IMP tickets start training: (K, each mask's theta_K), from their metadata's
    "rewind" (`_ticket_rewind`); (0, ()) when no mask starts from a rewind point.

    Raises:
      SketchjaxError: masks trained together that do not share one rewind step.
    """
    rewinds = [_ticket_rewind(m.metadata) for m in masks]
    if not any(rewinds):
        return 0, ()
    steps = {int(r["step"]) if r else None for r in rewinds}
    if len(steps) != 1:
        raise SketchjaxError(f"masks trained together must share one rewind step; got "
                             f"{sorted(steps, key=str)}")
    return steps.pop(), tuple(load_variables(r["file"]) for r in rewinds)


def plan_from_mask(mask_path: Optional[str | os.PathLike],
                   overrides: TrainOverrides = TrainOverrides()) -> RunPlan:
    """The run plan for a mask file (or, with mask_path None, a dense run); cheap, no writes.

    Raises:
      SketchjaxError: an unreadable mask, a missing model/dataset for a dense run, and every
        error of `plan_run`.
    """
    o = overrides
    mask: Optional[Mask] = None
    meta: Mapping[str, Any] = {}
    if mask_path is not None:
        mask = load_mask(mask_path)
        meta = mask.metadata
    model = o.model or meta.get("model")
    dataset = o.dataset or meta.get("dataset")
    if not model or not dataset:
        raise SketchjaxError(
            f"{mask_path} names no model/dataset; pass them" if mask is not None else
            "a dense run needs a model and a dataset")
    num_classes = o.num_classes if o.num_classes is not None else meta.get("num_classes")
    seeds = tuple(o.seeds) if o.seeds is not None else (int(meta.get("seed", 0)),)
    config, preset_name = recipe(model, o.preset, o.recipe)
    ticket_rewind = _ticket_rewind(meta) if mask is not None else None
    rewind = dict(ticket_rewind) if ticket_rewind and o.rewind else None
    start_step, init_variables = rewind_start([mask]) if rewind else (0, ())
    record = {"mask_file": str(Path(mask_path).resolve()) if mask is not None else None,
              "preset": preset_name, "rewind": rewind}
    out = o.out
    if out is None:
        stem = Path(mask_path).stem if mask is not None else f"{model}_{dataset}_dense"
        out = Path(o.runs_dir) / (f"{stem}_" + config_hash(
            {"model": model, "dataset": dataset, "seeds": list(seeds), "data": o.data,
             "init_seed": o.init_seed, "train": config.to_dict(), **record}))
    return plan_run(model, dataset, config, mask=mask, seeds=seeds, init_seed=o.init_seed,
                    num_classes=num_classes, data=o.data, data_dir=o.data_dir, out=out,
                    resume=o.resume, start_step=start_step, init_variables=init_variables,
                    record=record)


def train_from_mask(mask_path: Optional[str | os.PathLike],
                    overrides: TrainOverrides = TrainOverrides(), *,
                    progress: bool = True) -> TrainResult:
    """Plan (`plan_from_mask`) and train a mask file's run; returns the TrainResult."""
    return train(plan_from_mask(mask_path, overrides), progress=progress)
