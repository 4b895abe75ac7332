"""A run, checked before any heavy work: `RunPlan` and `plan_run`, and the record naming it.

`plan_run` validates everything a user can get wrong (names, recipe, seeds, the mask's fit,
the rewind point's fit, the dataset on disk, the output folder) in well under a second, with no
initialiser or step compiled; `train(plan)` then only executes. The plan's `identity` is what
determines the run's trajectory: it is written to config.json, and a resumed run must match it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Sequence, Union

import jax
import numpy as np

from sketchjax import names, trees
from sketchjax.atomic import check_writable
from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError, check_choice, check_int
from sketchjax.masks import Mask, validate_mask
from sketchjax.models.registry import abstract_model
from sketchjax.records import config_differences, read_json
from sketchjax.training.config import RESUMABLE_CHANGES, TrainConfig
from sketchjax.training.run_files import RunPaths


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """Everything `train` needs, validated by `plan_run`.

    Attributes:
      model, dataset: registry names.
      config: the recipe.
      masks: the Masks to train (their support; see config.mask_mode): () = dense, one
        shared by every seed, or one per seed (each seed its own mask and initial weights).
      seeds: training seeds (data order, random data); several train together (vmap).
      init_seeds: the seed of each run's initial weights.
      num_classes, input_shape: of the model's head and input.
      data: "real" (the training split), "normal" (fresh N(0, 1) images, random labels) or
        "normal_fixed" (a fixed random set of the split's size; `sketchjax.data.streams`).
      data_dir: tfds data dir / offline cache dir.
      num_train: training examples (the split on disk; else the dataset's standard size).
      steps_per_epoch: num_train // batch size.
      num_test: test examples; None when the test split is not on disk (no evaluation).
      paths: the run folder's files, or None (everything in memory, no checkpoints).
      resume: continue from the latest checkpoint in `paths`.
      start_step: the global step the run starts at (IMP: the rewind step K); the lr schedule
        and the data stream resume there, with a fresh optimizer.
      init_variables: {"params", "batch_stats"} to start from instead of the initialisers
        (IMP's rewind point): () = initialise, one shared by every seed, or one per seed.
      record: extra entries for config.json (e.g. the mask file's name, the preset).
    """
    model: str
    dataset: str
    config: TrainConfig
    masks: tuple[Mask, ...]
    seeds: tuple[int, ...]
    init_seeds: tuple[int, ...]
    num_classes: int
    input_shape: tuple[int, ...]
    data: str
    data_dir: Any
    num_train: int
    steps_per_epoch: int
    num_test: Optional[int]
    paths: Optional[RunPaths]
    resume: bool
    start_step: int
    init_variables: tuple[Mapping[str, Any], ...]
    record: Mapping[str, Any]

    @property
    def stacked(self) -> bool:
        """Several seeds in one program: every state leaf has a leading seed axis."""
        return len(self.seeds) > 1

    @property
    def end_step(self) -> int:
        return self.config.epochs * self.steps_per_epoch

    def mask_of(self, i: int) -> Optional[Mask]:
        """The mask seed i trains (None for a dense run)."""
        if not self.masks:
            return None
        return self.masks[i] if len(self.masks) > 1 else self.masks[0]

    def variables_of(self, i: int) -> Optional[Mapping[str, Any]]:
        """The variables seed i starts from (None: the initialisers')."""
        if not self.init_variables:
            return None
        return self.init_variables[i if len(self.init_variables) > 1 else 0]

    def describe(self) -> str:
        """One line: what is trained, how long, from where, into which folder."""
        what = f"mask {self.record['mask_file']}" if self.record.get("mask_file") else (
            f"{len(self.masks)} mask(s)" if self.masks else "dense")
        return (f"training {self.model} on {self.dataset} ({what}), seeds {list(self.seeds)}, "
                f"{self.config.epochs} epochs x {self.steps_per_epoch} steps"
                + (f", preset {self.record['preset']}" if "preset" in self.record else "")
                + (f", from step {self.start_step}" if self.start_step else "")
                + (f" -> {self.paths.root}" if self.paths is not None else ""))

    def identity(self) -> dict[str, Any]:
        """The record that names the run (config.json): what determines its trajectory."""
        keep = ("method", "selection", "density", "realised_density", "seed", "model",
                "dataset", "inputs", "rounds", "replacement", "config_hash")
        records = [{k: m.metadata[k] for k in keep if k in m.metadata} for m in self.masks]
        mask_record = records[0] if len(records) == 1 else (records or None)
        return {"model": self.model, "dataset": self.dataset, "num_classes": self.num_classes,
                "seeds": list(self.seeds), "init_seeds": list(self.init_seeds),
                "data": self.data, "start_step": self.start_step, "dense": not self.masks,
                "mask": mask_record, "train": self.config.to_dict(), **self.record}


def _seed_tuple(seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0
                        for s in seeds):
        raise SketchjaxError(f"seeds must be a non-empty list of ints >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise SketchjaxError(f"seeds must be distinct, got {seeds!r}")
    return tuple(int(s) for s in seeds)


def _check_variables(variables: Mapping[str, Any], params_shapes: Mapping, what: str,
                     model: str) -> None:
    """The params of `variables` must have exactly the model's paths and shapes."""
    expected = {p: tuple(np.shape(v)) for p, v in trees.flatten(params_shapes).items()}
    got = {p: tuple(np.shape(v)) for p, v in trees.flatten(variables.get("params", {})).items()}
    if got != expected:
        wrong = sorted(set(got) ^ set(expected)) or sorted(
            p for p in expected if got.get(p) != expected[p])
        raise SketchjaxError(f"{what} does not fit {model} (first difference: {wrong[0]})")


def _split_sizes(dataset: str, data: str, data_dir) -> tuple[int, Optional[int]]:
    """(train examples, test examples or None): from the data on disk; for random-data
    training of a dataset that is not on disk, the standard train size and no evaluation."""
    from sketchjax.data.pipelines import num_examples
    try:
        return num_examples(dataset, "train", data_dir), num_examples(dataset, "test", data_dir)
    except SketchjaxError:
        if data not in names.RANDOM_TRAIN_DATA:
            raise
        return dataset_info(dataset).num_train, None


def check_resume(paths: RunPaths, identity: Mapping[str, Any]) -> None:
    """A resumed run must have been started with the same trajectory-defining record."""
    # The mask file's name is shown, not part of the identity (the mask's hash is).
    ignore = [f"train.{name}" for name in RESUMABLE_CHANGES] + ["mask_file"]
    diffs = config_differences(read_json(paths.config), identity, ignore)
    if diffs:
        raise SketchjaxError(f"--resume: {paths.root} was started with other settings "
                             f"({', '.join(diffs)}); use the same flags or another --out")


def plan_run(model: str, dataset: str, config: TrainConfig = TrainConfig(), *,
             mask: Union[None, Mask, Sequence[Mask]] = None, seeds: Sequence[int] = (0,),
             init_seed: Optional[int] = None, num_classes: Optional[int] = None,
             data: str = "real", data_dir=None, out=None, resume: bool = False,
             start_step: int = 0,
             init_variables: Union[None, Mapping[str, Any], Sequence[Mapping[str, Any]]] = None,
             record: Optional[Mapping[str, Any]] = None) -> RunPlan:
    """Validate a run cheaply; nothing is written and nothing is compiled.

    Args: as the fields of `RunPlan`, plus
      mask: None (dense), one Mask for every seed, or a sequence of one Mask per seed.
      init_variables: None, one {"params", "batch_stats"} for every seed, or one per seed.
      init_seed: seed of the initial weights; None = each mask's seed (the weights it was
        computed for), or each training seed for a dense run.
      out: the run folder (None = in memory).
    Raises:
      SketchjaxError: one clear message on any user mistake.
    """
    config = config.validate()
    seeds = _seed_tuple(seeds)
    check_choice(data, names.TRAIN_DATA, "training data")
    start_step = check_int(start_step, "start_step", 0)
    _, params_shape, input_shape, classes = abstract_model(model, dataset, num_classes)
    masks = () if mask is None else (mask,) if isinstance(mask, Mask) else tuple(mask)
    if len(masks) not in (0, 1, len(seeds)):
        raise SketchjaxError(f"give one mask, or one per seed ({len(seeds)}); got {len(masks)}")
    for m in masks:
        validate_mask(m, params_shape, f"{model} on {dataset} (input {input_shape})")
    variables = (() if init_variables is None else (init_variables,)
                 if isinstance(init_variables, Mapping) else tuple(init_variables))
    if len(variables) not in (0, 1, len(seeds)):
        raise SketchjaxError(f"give one set of initial variables, or one per seed "
                             f"({len(seeds)}); got {len(variables)}")
    for v in variables:
        _check_variables(v, params_shape, "the initial variables", model)
    if init_seed is None:
        init_seeds = (tuple(masks[i if len(masks) > 1 else 0].info.seed
                            for i in range(len(seeds))) if masks else seeds)
    else:
        init_seeds = (int(init_seed),) * len(seeds)
    paths = RunPaths(check_writable(out, folder=True)) if out is not None else None
    if paths is not None:
        if resume and not paths.config.exists():
            raise SketchjaxError(f"--resume: {paths.root} holds no run (no config.json)")
        if not resume and paths.config.exists():
            raise SketchjaxError(f"{paths.root} already holds a run; pass --resume to continue "
                                 "it, or choose another --out")
    elif resume:
        raise SketchjaxError("resume needs the run's output folder (--out)")
    num_train, num_test = _split_sizes(dataset, data, data_dir)
    steps_per_epoch = num_train // config.batch_size
    if steps_per_epoch < 1:
        raise SketchjaxError(f"batch size {config.batch_size} exceeds the {num_train} training "
                             f"examples of {dataset}")
    if start_step >= config.epochs * steps_per_epoch:
        raise SketchjaxError(f"start step {start_step} is past the end of the run "
                             f"({config.epochs} epochs x {steps_per_epoch} steps)")
    n_dev = len(jax.devices())
    if config.batch_size % n_dev:
        raise SketchjaxError(f"batch size {config.batch_size} is not divisible by the "
                             f"{n_dev} devices")
    plan = RunPlan(model=model, dataset=dataset, config=config, masks=masks, seeds=seeds,
                   init_seeds=init_seeds, num_classes=classes, input_shape=input_shape,
                   data=data, data_dir=data_dir, num_train=num_train,
                   steps_per_epoch=steps_per_epoch,
                   num_test=num_test, paths=paths, resume=resume, start_step=start_step,
                   init_variables=variables, record=dict(record or {}))
    if resume:
        check_resume(paths, plan.identity())
    return plan
