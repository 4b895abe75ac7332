"""Iterative magnitude pruning with rewinding (the lottery-ticket procedure, OpenLTH semantics).

    theta_0 = init(seed); train K steps dense -> theta_K          (the rewind point; K = 0 allowed)
    mask_0 = ones
    for L = 1, 2, ...:
        train theta_K * mask_{L-1} for E epochs                    (fresh optimizer; the lr
                                                                     schedule and the data stream
                                                                     resume at step K)
        prune ceil(rate * remaining) of the remaining weights by the magnitude of the trained
        weights -> mask_L = mask_{L-1} AND keep                     (nested)
        survivors rewound to theta_K
        stop at the first level at or below the target density (or prune that level to hit
        the target exactly: `exact_final`)

Densities are counted over the layers IMP prunes: all prunable kernels with
`output_layer="prune"`, all but the classifier with "ignore" (then the classifier stays dense,
as OpenLTH's VGG and LeNet). Each level's mask is written as soon as it is made
(`<workdir>/level_XX.npz`); a level whose file exists is loaded instead of recomputed, so an
interrupted search resumes at the next level. The rewind point is stored as
`<workdir>/rewind.npz` and named in every mask's metadata ("rewind"), so `train.py` starts the
final sparse network from theta_K at step K, as the lottery-ticket procedure does.

Variants (the paper's Table 2): `data="normal"` trains on N(0, 1) images with random labels
for the whole search (pretraining and every level); `selection="layerwise_sample"` replaces
the global magnitude threshold by the paper's per-layer randomized mask (per-layer counts from
the global threshold, weights drawn without replacement proportionally to |theta|).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np

from sketchjax import sketch, trees
from sketchjax.atomic import atomic_savez
from sketchjax.errors import SketchjaxError, check_choice
from sketchjax.masks import Mask, density_summary, load_mask, save_mask
from sketchjax.training import TRAIN_DATA, TrainConfig, plan_run, train, write_json

OUTPUT_LAYER_MODES = ("prune", "ignore")
IMP_SELECTIONS = ("threshold", "layerwise_sample")
REWIND_FILE = "rewind.npz"
CONFIG_FILE = "imp_config.json"
_SELECT_STREAM = 1000  # fold_in tag of level L's selection key: fold_in(key(seed), 1000 + L)


def default_rewind_iters(model: str, dataset: str) -> int:
    """The paper's rewind points: VGG-19 1000, ResNet-20 CIFAR-10 2000, CIFAR-100 6000; else 0."""
    if model in ("vgg19", "vgg19_bn"):
        return 1000
    if model == "resnet20":
        return {"cifar10": 2000, "cifar100": 6000}.get(dataset, 0)
    return 0


def default_output_layer(model: str) -> str:
    """OpenLTH: the ResNets prune their classifier; VGG and LeNet leave it dense."""
    return "prune" if "resnet" in model else "ignore"


@dataclasses.dataclass(frozen=True)
class IMPConfig:
    """An IMP search.

    Attributes:
      density: target fraction of the pruned layers' weights kept, in (0, 1].
      rate: fraction of the remaining weights pruned per level (OpenLTH: 0.2).
      rewind_iters: K, the rewind step; None = `default_rewind_iters(model, dataset)`.
      epochs: training epochs per level (the whole run, K included); None = train.epochs.
      output_layer: "prune" | "ignore"; None = `default_output_layer(model)`.
      exact_final: prune the last level to the target density exactly instead of stopping
        at the first level at or below it.
      data: "real" or "normal" (random data for the whole search).
      selection: "threshold" (global magnitude) or "layerwise_sample".
      seed: initial weights, data order, random data and sampling.
      train: the training recipe of the pretraining and of every level.
    """
    density: float = 0.1
    rate: float = 0.2
    rewind_iters: Optional[int] = None
    epochs: Optional[int] = None
    output_layer: Optional[str] = None
    exact_final: bool = False
    data: str = "real"
    selection: str = "threshold"
    seed: int = 0
    train: TrainConfig = TrainConfig()

    def resolved(self, model: str, dataset: str) -> "IMPConfig":
        """Defaults filled in for a model and dataset, and every value checked."""
        config = dataclasses.replace(
            self,
            rewind_iters=(default_rewind_iters(model, dataset) if self.rewind_iters is None
                          else self.rewind_iters),
            output_layer=self.output_layer or default_output_layer(model),
            epochs=self.train.epochs if self.epochs is None else self.epochs)
        config = dataclasses.replace(config, train=config.train.replace(epochs=config.epochs))
        if not (isinstance(config.density, (int, float)) and 0 < config.density <= 1):
            raise SketchjaxError(f"density must be in (0, 1], got {config.density}")
        if not (isinstance(config.rate, (int, float)) and 0 < config.rate < 1):
            raise SketchjaxError(f"IMP rate must be in (0, 1), got {config.rate}")
        if isinstance(config.rewind_iters, bool) or not isinstance(config.rewind_iters, int) \
                or config.rewind_iters < 0:
            raise SketchjaxError(f"rewind iterations must be an int >= 0, got "
                                 f"{config.rewind_iters!r}")
        check_choice(config.output_layer, OUTPUT_LAYER_MODES, "output-layer mode")
        check_choice(config.data, TRAIN_DATA, "IMP data")
        check_choice(config.selection, IMP_SELECTIONS, "IMP selection")
        config.train.validate()
        return config

    def record(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["train"] = self.train.to_dict()
        return d


@dataclasses.dataclass
class IMPResult:
    """What `run_imp` returns: the final mask, its file, and one record per level."""
    mask: Mask
    mask_path: Path
    levels: list[dict[str, Any]]
    workdir: Path


def output_layer_path(params: Mapping, num_classes: int) -> str:
    """The classifier's kernel: the last Dense kernel (2-D) whose width is num_classes."""
    def natural(path):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]
    candidates = [p for p, leaf in trees.flatten(trees.prunable(params)).items()
                  if np.ndim(leaf) == 2 and np.shape(leaf)[-1] == num_classes]
    if not candidates:
        raise SketchjaxError(f"no Dense kernel with {num_classes} outputs: cannot tell the "
                             "output layer (use output_layer='prune')")
    return max(candidates, key=natural)


def level_counts(total: int, rate: float, target: float, exact_final: bool) -> list[int]:
    """Kept counts of levels 1, 2, ... over `total` weights (OpenLTH: prune ceil(rate * kept))."""
    target_kept = int(round(target * total))
    counts, kept = [], total
    while kept > target_kept or not counts:
        nxt = kept - math.ceil(rate * kept)
        if exact_final:
            nxt = max(nxt, target_kept)
        counts.append(nxt)
        kept = nxt
        if nxt <= target_kept or nxt == 0:
            break
    return counts


def save_variables(path: Path, variables: Mapping[str, Mapping]) -> Path:
    """{"params", "batch_stats"} as one .npz ("params/<path>", "batch_stats/<path>"), atomic."""
    arrays = {f"{col}/{p}": np.asarray(jax.device_get(v))
              for col in ("params", "batch_stats")
              for p, v in trees.flatten(variables.get(col, {})).items()}
    return atomic_savez(path, arrays)


def load_variables(path: str | os.PathLike) -> dict[str, dict]:
    """Inverse of `save_variables`: {"params": nested dict, "batch_stats": nested dict}."""
    path = Path(path)
    if not path.is_file():
        raise SketchjaxError(f"rewind point {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            flat = {k: np.asarray(npz[k]) for k in npz.files}
    except Exception as err:  # noqa: BLE001  (any unreadable file gets one message)
        raise SketchjaxError(f"{path} is not a readable rewind point: {err}") from None
    out: dict[str, dict] = {"params": {}, "batch_stats": {}}
    for col in out:
        prefix = col + "/"
        out[col] = trees.unflatten({k[len(prefix):]: v for k, v in flat.items()
                                    if k.startswith(prefix)})
    return out


def _level_path(workdir: Path, level: int) -> Path:
    return workdir / f"level_{level:02d}.npz"


def _check_workdir(workdir: Path, record: Mapping[str, Any]) -> None:
    """A workdir belongs to one search: refuse to mix levels of different settings."""
    path = workdir / CONFIG_FILE
    if not path.exists():
        return
    saved = json.loads(path.read_text())
    if saved != json.loads(json.dumps(record)):
        diffs = sorted(k for k in set(saved) | set(record) if saved.get(k) != record.get(k))
        raise SketchjaxError(f"{workdir} holds an IMP search with other settings "
                             f"({', '.join(diffs)}); remove it or choose another output")


def _prune_level(trained: Mapping, mask: Mapping, pruned_paths: list[str], keep: int,
                 selection: str, key: jax.Array) -> dict:
    """New mask over `pruned_paths`: `keep` survivors ranked (or sampled) by |trained|."""
    scores = trees.unflatten({p: jnp.abs(jnp.asarray(trained[p])) for p in pruned_paths})
    alive = trees.unflatten({p: jnp.asarray(mask[p]) for p in pruned_paths})
    total = trees.count_params(alive)
    # keep - 0.5: int((1 - d) * N) then prunes exactly N - keep despite float rounding.
    density = min(1.0, (keep - 0.5) / total) if keep > 0 else 0.0
    if keep <= 0:
        return {p: np.zeros_like(np.asarray(mask[p])) for p in pruned_paths}
    new = sketch.select(scores, alive, density, key, selection=selection)
    flat = trees.flatten(new)
    # Nested by construction (pruned weights rank last); enforce it against any tie at 0.
    return {p: np.asarray(flat[p] != 0, np.float32) * (np.asarray(mask[p]) != 0)
            for p in pruned_paths}


def run_imp(model: str, dataset: str, config: IMPConfig, workdir: str | os.PathLike, *,
            out: Optional[str | os.PathLike] = None, data_dir=None,
            num_classes: Optional[int] = None, progress: bool = True,
            log: Callable[[str], None] = print) -> IMPResult:
    """Run (or resume) an IMP search; every level's mask is saved in `workdir` as it is made.

    Args:
      model, dataset: registry names (the dataset must be on disk; with data="normal" it is
        used only for evaluation and the epoch length).
      config: the search (`IMPConfig`); defaults resolved per model and dataset.
      workdir: folder for rewind.npz, level_XX.npz, imp_config.json, levels.json.
      out: where the final mask is also written (None = only in workdir).
      data_dir: tfds / offline data folder.
      num_classes: overrides the dataset's class count.
      progress: training progress bars.
      log: one line per level (None-safe: pass `lambda s: None` to silence).
    Returns:
      IMPResult with the final mask (metadata: method "imp", level, densities, rewind).
    """
    from sketchjax.models.registry import init_model
    config = config.resolved(model, dataset)
    workdir = Path(workdir)
    seed = config.seed
    # Validate everything (names, dataset on disk, K inside the run) before any work.
    plan = plan_run(model, dataset, config.train, seeds=(seed,), init_seed=seed,
                    num_classes=num_classes, data=config.data, data_dir=data_dir,
                    start_step=config.rewind_iters)
    identity = {"model": model, "dataset": dataset, "num_classes": plan.num_classes,
                **config.record()}
    _check_workdir(workdir, identity)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json(workdir / CONFIG_FILE, identity)

    bundle = init_model(model, dataset, jax.random.key(seed), num_classes=plan.num_classes)
    all_paths = trees.prunable_paths(bundle.params)
    ignored = ([output_layer_path(bundle.params, plan.num_classes)]
               if config.output_layer == "ignore" else [])
    pruned_paths = [p for p in all_paths if p not in ignored]
    flat_init = trees.flatten(bundle.params)
    total = sum(int(np.size(flat_init[p])) for p in pruned_paths)
    counts = level_counts(total, config.rate, config.density, config.exact_final)
    train_config = config.train.replace(checkpoint_every=0, eval_every=0)
    K = config.rewind_iters

    # The rewind point theta_K.
    rewind_path = workdir / REWIND_FILE
    if rewind_path.exists():
        theta_k = load_variables(rewind_path)
    else:
        if K > 0:
            result = train(model, dataset, train_config, seeds=(seed,), init_seed=seed,
                           num_classes=plan.num_classes, data=config.data, data_dir=data_dir,
                           progress=progress, stop_step=K, epoch_lines=False)
            theta_k = {"params": jax.device_get(result.state.params),
                       "batch_stats": jax.device_get(result.state.batch_stats)}
        else:
            theta_k = {"params": bundle.params, "batch_stats": bundle.batch_stats}
        save_variables(rewind_path, theta_k)
        log(f"IMP: rewind point theta_{K} saved to {rewind_path}")

    import flax
    import sketchjax
    mask = {p: np.ones(np.shape(flat_init[p]), np.float32) for p in all_paths}
    levels: list[dict[str, Any]] = []
    key = jax.random.key(seed)
    final_path = None
    for level, keep in enumerate(counts, start=1):
        path = _level_path(workdir, level)
        if path.exists():
            loaded = load_mask(path)
            if set(loaded.arrays) != set(all_paths) or any(
                    np.any((loaded.arrays[p] != 0) & (mask[p] == 0)) for p in all_paths):
                raise SketchjaxError(f"{path} is not the next level of this search "
                                     "(paths differ or the masks are not nested)")
            mask = {p: np.asarray(loaded.arrays[p] != 0, np.float32) for p in all_paths}
            levels.append(loaded.metadata.get("imp", {}))
            log(f"IMP level {level}: {path} exists, loaded (density "
                f"{loaded.metadata.get('imp', {}).get('pruned_density', float('nan')):.4f})")
            final_path = path
            continue
        start = time.perf_counter()
        level_mask = Mask({p: mask[p] for p in all_paths}, {"seed": seed, "model": model})
        result = train(model, dataset, train_config, mask=level_mask, seeds=(seed,),
                       init_seed=seed, num_classes=plan.num_classes, data=config.data,
                       data_dir=data_dir, progress=progress, init_variables=theta_k,
                       start_step=K, epoch_lines=False)
        trained = trees.flatten(jax.device_get(result.state.params))
        new = _prune_level(trained, mask, pruned_paths, keep, config.selection,
                           jax.random.fold_in(key, _SELECT_STREAM + level))
        mask = {**mask, **new}
        kept_pruned = int(sum(np.count_nonzero(mask[p]) for p in pruned_paths))
        summary = density_summary(mask)
        test_acc = (result.summary or {}).get("test_accuracy")
        record = {
            "level": level, "pruned_density": kept_pruned / total, "pruned_kept": kept_pruned,
            "pruned_size": total, "target_kept": keep,
            "trained_test_accuracy": test_acc,
            "trained_train_accuracy": (result.summary or {}).get("final_train_accuracy"),
            "rate": config.rate, "rewind_iters": K, "epochs_per_level": config.epochs,
            "output_layer": config.output_layer, "ignored_layers": ignored,
            "exact_final": config.exact_final, "data": config.data,
            "selection": config.selection, "final": level == len(counts),
            "seconds": round(time.perf_counter() - start, 3),
        }
        metadata = {
            "method": "imp", "inputs": {"data": config.data}, "selection": config.selection,
            "replacement": False, "rounds": level, "schedule": "imp",
            "density": config.density, "realised_density": summary["density"],
            "kept": summary["kept"], "prunable": summary["size"],
            "per_layer": summary["per_layer"], "s": None, "seed": seed, "model": model,
            "dataset": dataset, "num_classes": plan.num_classes,
            "input_shape": list(plan.input_shape), "imp": record,
            "rewind": {"file": str(rewind_path.resolve()), "step": K},
            "train": train_config.to_dict(),
            "versions": {"sketchjax": sketchjax.__version__, "jax": jax.__version__,
                         "flax": flax.__version__},
        }
        save_mask(path, Mask(mask, metadata))
        levels.append(record)
        final_path = path
        acc = "-" if test_acc is None else f"{test_acc:.4f}"
        log(f"IMP level {level}/{len(counts)}: trained (test acc {acc}), kept {kept_pruned:,} "
            f"of {total:,} ({kept_pruned / total:.4f}), {record['seconds']:.1f}s -> {path}")
    write_json(workdir / "levels.json", levels)
    final = load_mask(final_path)
    final_out = final_path
    if out is not None:
        final_out = save_mask(out, final)
    return IMPResult(final, Path(final_out), levels, workdir)


__all__ = [
    "IMPConfig", "IMPResult", "IMP_SELECTIONS", "OUTPUT_LAYER_MODES", "default_output_layer",
    "default_rewind_iters", "level_counts", "load_variables", "output_layer_path", "run_imp",
    "save_variables",
]
