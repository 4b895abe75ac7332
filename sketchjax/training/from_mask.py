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
from sketchjax.masks import Mask, MaskInfo, Rewind, load_mask, mask_id
from sketchjax.methods.imp import ticket_start
from sketchjax.models.registry import model_spec
from sketchjax.records import identity_name
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


def _ticket_rewind(info: MaskInfo) -> Optional[Rewind]:
    """The rewind point a mask's ticket starts from, or None (not IMP, or found on random
    data: `ticket_start`, whatever an older file's metadata names)."""
    return info.rewind if info.rewind and ticket_start(info.data) == "rewind" else None


def rewind_start(masks: Sequence[Mask], paths: Sequence[str | os.PathLike]
                 ) -> tuple[int, tuple[dict[str, Any], ...]]:
    """Where IMP tickets start training: (K, each mask's theta_K), from their metadata's
    "rewind" (`_ticket_rewind`; its file relative to the mask file's folder, `paths`);
    (0, ()) when no mask starts from a rewind point.

    Raises:
      SketchjaxError: masks trained together that do not share one rewind step.
    """
    rewinds = [_ticket_rewind(m.info) for m in masks]
    if not any(rewinds):
        return 0, ()
    steps = {r.step if r else None for r in rewinds}
    if len(steps) != 1:
        raise SketchjaxError(f"masks trained together must share one rewind step; got "
                             f"{sorted(steps, key=str)}")
    if len(paths) != len(masks):
        raise SketchjaxError(f"give each mask's file: {len(masks)} masks, {len(paths)} paths")
    files = [Path(p).parent / r.file for r, p in zip(rewinds, paths)]
    for f in files:
        if not f.is_file():
            raise SketchjaxError(f"the rewind point {f} of an IMP mask is missing (an IMP "
                                 "mask trains with its search folder beside it)")
    return steps.pop(), tuple(load_variables(f) for f in files)


def plan_from_mask(mask_path: Optional[str | os.PathLike],
                   overrides: TrainOverrides = TrainOverrides()) -> RunPlan:
    """The run plan for a mask file (or, with mask_path None, a dense run); cheap, no writes.

    Raises:
      SketchjaxError: an unreadable mask, a missing model/dataset for a dense run, and every
        error of `plan_run`.
    """
    o = overrides
    mask: Optional[Mask] = None
    info = MaskInfo()
    if mask_path is not None:
        mask = load_mask(mask_path)
        info = mask.info
    model = o.model or info.model
    dataset = o.dataset or info.dataset
    if not model or not dataset:
        raise SketchjaxError(
            f"{mask_path} names no model/dataset; pass them" if mask is not None else
            "a dense run needs a model and a dataset")
    num_classes = o.num_classes if o.num_classes is not None else info.num_classes
    seeds = tuple(o.seeds) if o.seeds is not None else (info.seed,)
    config, preset_name = recipe(model, o.preset, o.recipe)
    ticket_rewind = _ticket_rewind(info) if mask is not None else None
    rewind = ticket_rewind is not None and o.rewind
    start_step, init_variables = rewind_start([mask], [mask_path]) if rewind else (0, ())
    # The mask by its own identity, never by where its file lies: a copy trains into the
    # same run name.
    record = {"mask": mask_id(mask) if mask is not None else None,
              "mask_file": Path(mask_path).name if mask is not None else None,
              "preset": preset_name, "rewind_step": start_step if rewind else None}
    out = o.out
    if out is None:
        stem = Path(mask_path).stem if mask is not None else f"{model}_{dataset}_dense"
        identity = {"model": model, "dataset": dataset, "seeds": list(seeds), "data": o.data,
                    "init_seed": o.init_seed, "train": config.to_dict(),
                    **{k: v for k, v in record.items() if k != "mask_file"}}
        out = Path(o.runs_dir) / identity_name([stem], identity)
    return plan_run(model, dataset, config, mask=mask, seeds=seeds, init_seed=o.init_seed,
                    num_classes=num_classes, data=o.data, data_dir=o.data_dir, out=out,
                    resume=o.resume, start_step=start_step, init_variables=init_variables,
                    record=record)


def train_from_mask(mask_path: Optional[str | os.PathLike],
                    overrides: TrainOverrides = TrainOverrides(), *,
                    progress: bool = True) -> TrainResult:
    """Plan (`plan_from_mask`) and train a mask file's run; returns the TrainResult."""
    return train(plan_from_mask(mask_path, overrides), progress=progress)
