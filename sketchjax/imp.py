"""Iterative magnitude pruning with rewinding (the lottery-ticket procedure, OpenLTH semantics).

    theta_0 = init(seed); train K steps dense -> theta_K          (the rewind point; K = 0 allowed)
    mask_0 = ones
    for L = 1, 2, ...:
        train theta_K * mask_{L-1} for E epochs                    (fresh optimizer; the lr
                                                                     schedule and the data stream
                                                                     resume at step K)
        prune ceil(rate * remaining) of the remaining weights of each group (all pruned
        layers, or hidden layers and classifier at their own rates) by the magnitude of the
        trained weights -> mask_L = mask_{L-1} AND keep             (nested)
        survivors rewound to theta_K
        stop at the first level at or below the target density (or prune that level to hit
        the target exactly: `exact_final`)

Densities are counted over the layers IMP prunes: all prunable kernels with
`output_layer="prune"`, all but the classifier with "ignore" (then the classifier stays dense,
as OpenLTH's VGG). `output_rate` prunes the classifier at its own rate (the lottery-ticket
LeNet: hidden layers 20%, output layer 10% per level). Each level's mask is written as soon as
it is made (`<workdir>/level_XX.npz`); a level whose file exists is loaded instead of
recomputed, so an interrupted search resumes at the next level. The levels do not depend on the
target density, so searches for 10%, 5% and 2% share one workdir: the deeper one continues
where the shallower stopped. The rewind point is stored as
`<workdir>/rewind.npz` and named in every mask's metadata ("rewind": its path relative to the
mask file's folder, and K), so `train_from_mask` starts
the final sparse network from theta_K at step K, as the lottery-ticket procedure does; a search
on random data names none (`ticket_start`): its mask is transferred to real data and trained
from theta_0 at step 0. With `exact_final` only the last level depends on the target: it is
saved as `level_XX_keptN.npz`, and the levels before it are shared with the other targets. The
model's defaults (rewind step, whether the classifier is pruned, the training recipe) come
from the model registry.

Variants (the paper's Table 2): `data="normal_fixed"` trains on a fixed random set (N(0, 1)
images with random labels, the size of the training split, as the authors' code) for the whole
search (pretraining and every level), `data="normal"` on fresh noise every step; `selection="layerwise_sample"` replaces
the global magnitude threshold by the paper's per-layer randomized mask (per-layer counts from
the global threshold, weights drawn without replacement proportionally to |theta|).
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sketchjax import sketch, trees
from sketchjax.counts import kept_count
from sketchjax.errors import SketchjaxError
from sketchjax.masks import Mask, load_mask, mask_metadata, save_mask
from sketchjax.methods.imp import IMP, ticket_start
from sketchjax.models.registry import abstract_model, init_model, model_spec
from sketchjax.records import config_differences, identity_name, read_json, write_json
from sketchjax.training import plan_run, train
from sketchjax.variables import load_variables, save_variables

REWIND_FILE = "rewind.npz"
CONFIG_FILE = "imp_config.json"
LEVELS_FILE = "levels.json"
_SELECT_STREAM = 1000  # fold_in tag of level L's selection key: fold_in(key(seed), 1000 + L)


@dataclasses.dataclass
class IMPResult:
    """What `run_imp` returns: the final mask (also `<workdir>/level_XX.npz`, or
    `level_XX_keptN.npz` for an exact last level) and one record per level."""
    mask: Mask
    levels: list[dict[str, Any]]
    workdir: Path


def level_counts(sizes: Sequence[int], rates: Sequence[float], target: float,
                 exact_final: bool) -> list[tuple[int, ...]]:
    """Kept counts of each group at levels 1, 2, ...

    OpenLTH prunes ceil(rate * remaining) of each group per level; the search stops at the first
    level whose total is at or below `kept_count(sum(sizes), target)` (with `exact_final`, that
    level's counts are raised, first group first and never above what the group had alive, so
    that the total lands on it).

    Args:
      sizes: weights of each group (e.g. (hidden, output)).
      rates: each group's pruning rate per level.
      target: the target density over all groups.
      exact_final: land on the target exactly.
    Returns:
      one tuple of per-group kept counts per level.
    """
    target_kept = kept_count(sum(sizes), target)
    levels: list[tuple[int, ...]] = []
    kept = tuple(sizes)
    while sum(kept) > target_kept or not levels:
        nxt = [k - math.ceil(r * k) for k, r in zip(kept, rates)]
        deficit = target_kept - sum(nxt) if exact_final else 0
        for g in range(len(nxt)):
            raise_by = min(max(deficit, 0), kept[g] - nxt[g])
            nxt[g] += raise_by
            deficit -= raise_by
        if tuple(nxt) == kept:      # nothing left to prune
            break
        kept = tuple(nxt)
        levels.append(kept)
    return levels


def level_path(workdir: Path, level: int, exact_kept: Optional[int] = None) -> Path:
    """A level's mask file; `exact_kept`: a last level pruned to a target exactly."""
    suffix = "" if exact_kept is None else f"_kept{exact_kept}"
    return workdir / f"level_{level:02d}{suffix}.npz"


def _level_files(workdir: Path, counts: Sequence[tuple[int, ...]],
                 plain: Sequence[tuple[int, ...]]) -> list[Path]:
    """The files of a search's levels: the exact last level (where it differs from the plain
    one) has its own name, every other level is shared with the search's other targets."""
    return [level_path(workdir, level, sum(keeps) if keeps != plain_keeps else None)
            for level, (keeps, plain_keeps) in enumerate(zip(counts, plain), start=1)]


def _check_workdir(workdir: Path, record: Mapping[str, Any]) -> None:
    """A workdir belongs to one search: refuse to mix levels of different settings."""
    path = workdir / CONFIG_FILE
    if not path.exists():
        return
    diffs = config_differences(read_json(path), record)
    if diffs:
        raise SketchjaxError(f"{workdir} holds an IMP search with other settings "
                             f"({', '.join(diffs)}); remove it or choose another output")


def _prune_level(trained: Mapping, mask: Mapping, pruned_paths: list[str], keep: int,
                 selection: str, key: jax.Array) -> dict:
    """New mask over `pruned_paths` (one group): `keep` survivors ranked (or sampled) by
    |trained|, globally over the group's layers."""
    scores = trees.unflatten({p: jnp.abs(jnp.asarray(trained[p])) for p in pruned_paths})
    alive = trees.unflatten({p: jnp.asarray(mask[p]) for p in pruned_paths})
    new = trees.flatten(sketch.select(scores, alive, keep, key, selection=selection))
    return {p: np.asarray(new[p] != 0, np.float32) for p in pruned_paths}


def _rewind_point(workdir: Path, plan, bundle, K: int, progress: bool,
                  log: Callable[[str], None]) -> dict:
    """theta_K: loaded from the workdir, or trained K steps dense from theta_0 and saved."""
    path = workdir / REWIND_FILE
    if path.exists():
        return load_variables(path)
    if K > 0:
        state = train(plan, stop_step=K, progress=progress, epoch_lines=False).state
        theta_k = {"params": jax.device_get(state.params),
                   "batch_stats": jax.device_get(state.batch_stats)}
    else:
        theta_k = {"params": bundle.params, "batch_stats": bundle.batch_stats}
    save_variables(path, theta_k)
    log(f"IMP: rewind point theta_{K} saved to {path}")
    return theta_k


def _loaded_level(path: Path, mask: Mapping[str, np.ndarray]) -> Mask:
    """A level's mask file, which must extend the search so far (same paths, nested)."""
    loaded = load_mask(path)
    if set(loaded.arrays) != set(mask) or any(
            np.any((loaded.arrays[p] != 0) & (mask[p] == 0)) for p in mask):
        raise SketchjaxError(f"{path} is not the next level of this search "
                             "(paths differ or the masks are not nested)")
    return loaded


def pruning_groups(model: str, params: Mapping, config: IMP
                   ) -> list[tuple[list[str], float, int]]:
    """(paths, rate, size) of each group IMP prunes by global magnitude within itself.

    Args:
      model: the registry name (its classifier path).
      params: the model's params (arrays or ShapeDtypeStructs).
      config: a validated IMP.
    """
    flat = trees.flatten(params)
    all_paths = trees.prunable_paths(params)
    classifier = model_spec(model).classifier
    others = [p for p in all_paths if p != classifier]
    if config.output_layer == "ignore":
        parts = [(others, config.rate)]
    elif config.output_rate is None:
        parts = [(all_paths, config.rate)]
    else:
        parts = [(others, config.rate), ([classifier], config.output_rate)]
    return [(paths, rate, sum(int(np.prod(np.shape(flat[p]))) for p in paths))
            for paths, rate in parts]


def search_levels(model: str, dataset: str, config: IMP,
                  num_classes: Optional[int] = None) -> list[tuple[int, ...]]:
    """The kept counts per group of every level a (validated) config's search runs."""
    _, shapes, _, _ = abstract_model(model, dataset, num_classes)
    groups = pruning_groups(model, shapes, config)
    return level_counts([size for *_, size in groups], [rate for _, rate, _ in groups],
                        config.density, config.exact_final)


def _counts_and_plain(model: str, dataset: str, config: IMP,
                      num_classes: Optional[int]) -> tuple[list, list]:
    plain = dataclasses.replace(config, exact_final=False)
    return (search_levels(model, dataset, config, num_classes),
            search_levels(model, dataset, plain, num_classes))


def level_files(workdir: str | os.PathLike, model: str, dataset: str, config: IMP,
                num_classes: Optional[int] = None) -> list[Path]:
    """The mask files of every level a (validated) config's search writes in `workdir`."""
    return _level_files(Path(workdir), *_counts_and_plain(model, dataset, config, num_classes))


def shared_levels(model: str, dataset: str, config: IMP,
                  num_classes: Optional[int] = None) -> tuple[int, int]:
    """(levels shared with the search's other targets, all its levels) of a (validated) config:
    all but an exact last level, which is its target's own."""
    counts, plain = _counts_and_plain(model, dataset, config, num_classes)
    return sum(c == p for c, p in zip(counts, plain)), len(counts)


def search_name(model: str, dataset: str, config: IMP) -> str:
    """Folder name of a (validated) config's search: shared by every target density."""
    return identity_name([model, dataset, *config.name_parts(), f"seed{config.seed}"],
                         {"model": model, "dataset": dataset, **config.shared_record})


def run_imp(model: str, dataset: str, config: IMP, workdir: str | os.PathLike, *,
            data_dir=None, num_classes: Optional[int] = None, progress: bool = True,
            log: Callable[[str], None] = print) -> IMPResult:
    """Run (or resume) an IMP search; every level's mask is saved in `workdir` as it is made.

    Args:
      model, dataset: registry names (the dataset must be on disk; with random data it is
        used only for evaluation and the epoch length).
      config: the search (`IMP`); defaults resolved from the model registry.
      workdir: folder for rewind.npz, level_XX.npz (and an exact last level's
        level_XX_keptN.npz), imp_config.json, levels.json; shared by searches that differ only
        in the target density (`search_name`).
      data_dir: tfds / offline data folder.
      num_classes: overrides the dataset's class count.
      progress: training progress bars.
      log: one line per level (pass `lambda s: None` to silence).
    Returns:
      IMPResult with the final mask (metadata: method "imp", level, densities, rewind).
    """
    config = config.validated(model, dataset)
    workdir = Path(workdir)
    seed, K = config.seed, config.rewind_iters
    train_config = config.train.replace(checkpoint_every=0, eval_every=0)
    # Validate everything (names, dataset on disk, K inside the run) before any work.
    dense_plan = plan_run(model, dataset, train_config, seeds=(seed,), init_seed=seed,
                          num_classes=num_classes, data=config.data, data_dir=data_dir,
                          start_step=K)
    classes = dense_plan.num_classes
    identity = {"model": model, "dataset": dataset, "num_classes": classes,
                **config.shared_record}
    _check_workdir(workdir, identity)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json(workdir / CONFIG_FILE, identity)

    bundle = init_model(model, dataset, jax.random.key(seed), num_classes=classes)
    all_paths = trees.prunable_paths(bundle.params)
    flat_init = trees.flatten(bundle.params)
    groups = pruning_groups(model, bundle.params, config)
    pruned_paths = [p for paths, _, _ in groups for p in paths]
    ignored = [p for p in all_paths if p not in pruned_paths]
    sizes = [size for *_, size in groups]
    total = sum(sizes)
    rates = [rate for _, rate, _ in groups]
    counts = level_counts(sizes, rates, config.density, config.exact_final)
    plain = level_counts(sizes, rates, config.density, False)
    theta_k = _rewind_point(workdir, dataclasses.replace(dense_plan, start_step=0), bundle, K,
                            progress, log)
    ticket = ticket_start(config.data)
    # Relative to the folder of the mask that names it: the levels lie beside rewind.npz
    # (the final mask, written beside the search folder, gets the folder's name in front:
    # `IMP.compute`), so a search moved with its masks still trains.
    rewind = {"file": REWIND_FILE, "step": K} if ticket == "rewind" else None

    mask = {p: np.ones(np.shape(flat_init[p]), np.float32) for p in all_paths}
    levels: list[dict[str, Any]] = []
    key = jax.random.key(seed)
    final = None
    for level, (keeps, path) in enumerate(zip(counts, _level_files(workdir, counts, plain)),
                                          start=1):
        if path.exists():
            final = _loaded_level(path, mask)
            mask = {p: np.asarray(final.arrays[p] != 0, np.float32) for p in all_paths}
            levels.append(final.metadata.get("imp", {}))
            log(f"IMP level {level}: {path} exists, loaded (density "
                f"{levels[-1].get('pruned_density', float('nan')):.4f})")
            continue
        start = time.perf_counter()
        # The dense plan, validated once, with this level's mask (built from the model's own
        # paths) and theta_K: no re-planning, so no re-reading of the data set per level.
        # The level trains this mask, which has no record until it is saved; the plan's
        # initial weights are theta_K of the seed it was validated with.
        plan = dataclasses.replace(dense_plan, masks=(Mask(dict(mask), {}),),
                                   init_variables=(theta_k,))
        result = train(plan, progress=progress, epoch_lines=False)
        trained = trees.flatten(result.state.params)   # stays on device for the selection
        for g, ((paths, _, _), keep) in enumerate(zip(groups, keeps)):
            mask.update(_prune_level(trained, mask, paths, keep, config.selection,
                                     jax.random.fold_in(key, _SELECT_STREAM + 100 * g + level)))
        kept_pruned = int(sum(np.count_nonzero(mask[p]) for p in pruned_paths))
        trained_record = result.records[0]
        record = {
            "level": level, "pruned_density": kept_pruned / total, "pruned_kept": kept_pruned,
            "pruned_size": total, "target_kept": list(keeps), "group_sizes": sizes,
            "trained_test_accuracy": trained_record["test_accuracy"],
            "trained_train_accuracy": trained_record["final_train_accuracy"],
            "rate": config.rate, "output_rate": config.output_rate, "rewind_iters": K,
            "epochs_per_level": config.epochs, "output_layer": config.output_layer,
            "ignored_layers": ignored, "exact_final": config.exact_final, "data": config.data,
            "selection": config.selection, "seconds": round(time.perf_counter() - start, 3),
        }
        final = Mask(dict(mask), mask_metadata(
            mask, method="imp", model=model, dataset=dataset, num_classes=classes,
            input_shape=plan.input_shape, seed=seed, density=config.density,
            inputs={"data": config.data}, selection=config.selection, replacement=False,
            rounds=level, schedule="imp", s=None, imp=record, rewind=rewind,
            ticket_start=ticket,
            train=train_config.to_dict()))
        save_mask(path, final)
        levels.append(record)
        test_acc = trained_record["test_accuracy"]
        acc = "-" if test_acc is None else f"{test_acc:.4f}"
        log(f"IMP level {level}/{len(counts)}: trained (test acc {acc}), kept {kept_pruned:,} "
            f"of {total:,} ({kept_pruned / total:.4f}), {record['seconds']:.1f}s -> {path}")
    write_json(workdir / LEVELS_FILE, levels)
    # The last level is this target's mask, whichever search wrote it; where its ticket starts
    # is this config's rule (a level file written by an older version may say otherwise).
    final_record = dict(levels[-1], final=True)
    final = Mask(final.arrays, dict(final.metadata, density=config.density, imp=final_record,
                                    rewind=rewind, ticket_start=ticket))
    return IMPResult(final, levels, workdir)
