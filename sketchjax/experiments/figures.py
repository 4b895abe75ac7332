"""Figures 1a, 1b and 2: the numbers (JSON + CSV) and the matplotlib PNG of each.

- Fig. 1a: |theta_0| of the weights kept by SynFlow, IMP and a uniform random mask.
- Fig. 1b: SynFlow scores (at initialization) of all weights, and of those kept by the
  thresholded and by the randomized SynFlow mask (a uniform subset of 1,000 of each per seed),
  with each set's median and spread per seed.
- Fig. 2: the norm of the IMP ticket (its mask applied to the initial weights) against random
  masks of the same per-layer density, (a) across the IMP levels, (b) at the last level
  against 10,000 masks made by shuffling the ticket's mask inside each layer: one jitted,
  batched computation per layer (`experiments.shuffles`).

Masks come from `make_mask` with the tables' configs, so the figure and the tables share them.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sketchjax import trees
from sketchjax.atomic import atomic_write, atomic_write_text
from sketchjax.imp import level_files, search_name
from sketchjax.mask_store import MaskSpec, make_mask
from sketchjax.masks import load_mask
from sketchjax.models.registry import init_model
from sketchjax.methods import IMP, SynFlow
from sketchjax.records import write_json
from sketchjax.training import preset

from sketchjax.experiments.estimate import imp_search_seconds
from sketchjax.experiments.presets import TABLE_COLUMNS, Scale, mask_config
from sketchjax.experiments.report import DATASET_TITLES, MODEL_TITLES
from sketchjax.experiments.shuffles import random_mask_norms

SUBSET = 1000        # Fig. 1b: weights shown per histogram


def _title(model: str, dataset: str) -> str:
    return f"{MODEL_TITLES.get(model, model)}, {DATASET_TITLES.get(dataset, dataset)}"


def _save_png(fig, path: Path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))


def _masks_dir(out) -> Path:
    return Path(out) / "masks"


def _column(table: str, name: str):
    return next(c for c in TABLE_COLUMNS[table] if c.name == name)


def _mask(scale: Scale, table: str, column: str, model: str, dataset: str, density: float,
          seed: int, out, data_dir):
    config = mask_config(_column(table, column), scale, model, density, seed)
    return make_mask(MaskSpec(model, dataset, config), masks_dir=_masks_dir(out),
                     data_dir=data_dir, progress=False, log=lambda s: None).mask


# ----------------------------------------------------------------------------- Fig. 1a

FIG1A_METHODS = (("SynFlow", "table1", "SynFlow"), ("IMP", "table2", "IMP (supervised)"),
                 ("Random", "table2", "Random"))


def fig1a(scale: Scale, out, folder, *, seeds: int, data_dir=None) -> dict[str, Any]:
    """|theta_0| of the kept weights per method; per seed the mean |theta_0| of the kept
    weights, raw and relative to the mean |theta_0| of their layer."""
    import matplotlib.pyplot as plt

    model, dataset, density = scale.fig_settings["fig1a"]
    per_method: dict[str, dict[str, Any]] = {}
    for label, table, column in FIG1A_METHODS:
        kept_all, means, relative = [], [], []
        for seed in range(seeds):
            mask = _mask(scale, table, column, model, dataset, density, seed, out, data_dir)
            theta = trees.flatten(init_model(model, dataset, jax.random.key(seed)).params)
            values, rel = [], []
            for path, m in mask.arrays.items():
                w = np.abs(np.asarray(theta[path])).ravel()
                kept = w[np.asarray(m).ravel() != 0]
                values.append(kept)
                rel.append(kept / w.mean())
            kept = np.concatenate(values)
            kept_all.append(kept)
            means.append(float(kept.mean()))
            relative.append(float(np.concatenate(rel).mean()))
        per_method[label] = {"kept": np.concatenate(kept_all), "mean_abs": means,
                             "relative_to_layer": relative}
    top = max(float(np.quantile(v["kept"], 0.999)) for v in per_method.values())
    bins = np.linspace(0.0, top, 61)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    data = {"model": model, "dataset": dataset, "density": density, "seeds": seeds,
            "bins": bins.tolist(), "methods": {}}
    for label, v in per_method.items():
        counts, _ = np.histogram(v["kept"], bins)
        ax.hist(v["kept"], bins, density=True, histtype="step", lw=1.6,
                label=f"{label} (mean {np.mean(v['mean_abs']):.4f})")
        data["methods"][label] = {"counts": counts.tolist(), "mean_abs": v["mean_abs"],
                                  "relative_to_layer": v["relative_to_layer"]}
    ax.set_xlabel("|θ₀| of a kept weight (initial weight magnitude)")
    ax.set_ylabel("density (histogram normalised to area 1)")
    ax.set_title(f"Fig. 1a: |θ₀| of kept weights, {_title(model, dataset)}, "
                 f"density {density:g}, {seeds} seed(s)")
    ax.legend()
    _write_figure(folder, "fig1a", fig, data, [
        {"bin_left": float(bins[i]), "bin_right": float(bins[i + 1]),
         **{label: data["methods"][label]["counts"][i] for label in per_method}}
        for i in range(len(bins) - 1)])
    plt.close(fig)
    return data


# ----------------------------------------------------------------------------- Fig. 1b

def synflow_scores_at_init(model: str, dataset: str, seed: int) -> np.ndarray:
    """SynFlow scores of every prunable weight of the dense net at init (flat, path order);
    the input is scaled so that R = 1, which multiplies every score by one common factor."""
    from sketchjax.inputs import ones_input
    from sketchjax.scorers import synflow_scores_and_total
    bundle = init_model(model, dataset, jax.random.key(seed))
    apply_fn = bundle.apply_fn
    x = ones_input(bundle.input_shape)
    scale = SynFlow().input_scale(bundle, jax.random.key(0))
    if scale is not None:
        x = x * scale
    scores, _ = jax.jit(synflow_scores_and_total, static_argnums=0)(
        apply_fn, bundle.params, bundle.batch_stats, x)
    return np.asarray(trees.concat(scores), np.float64)


def fig1b(scale: Scale, out, folder, *, seeds: int, data_dir=None) -> dict[str, Any]:
    """Histograms of log10 SynFlow score: all weights, kept by the threshold, kept by the
    randomized mask. Per seed (its own weights, scores and masks) the median and the std of
    the log10 scores of each set; the histogram pools a uniform subset of 1,000 weights of
    each set from every seed."""
    import matplotlib.pyplot as plt

    model, dataset, density = scale.fig_settings["fig1b"]
    rng = np.random.default_rng(0)
    labels = ("all weights", "kept, threshold", "kept, randomized")
    per_set: dict[str, dict[str, list]] = {label: {"count": [], "zero_scores": [], "spread": [],
                                                   "median": [], "subset": []}
                                           for label in labels}
    for seed in range(seeds):
        scores = synflow_scores_at_init(model, dataset, seed)
        sets = {"all weights": np.ones(scores.shape, bool)}
        for label, column in (("kept, threshold", "SynFlow"),
                              ("kept, randomized", "SynFlow + rand. mask")):
            mask = _mask(scale, "table1", column, model, dataset, density, seed, out, data_dir)
            sets[label] = np.concatenate([np.asarray(mask.arrays[p]).ravel() != 0
                                          for p in sorted(mask.arrays)])
        positive = scores > 0
        for label, keep in sets.items():
            log_scores = np.log10(scores[keep & positive])
            v = per_set[label]
            v["count"].append(int(keep.sum()))
            v["zero_scores"].append(int((keep & ~positive).sum()))
            v["spread"].append(float(np.std(log_scores)))
            v["median"].append(float(np.median(log_scores)))
            v["subset"].append(rng.choice(log_scores, min(SUBSET, len(log_scores)),
                                          replace=False))
    data = {"model": model, "dataset": dataset, "density": density, "seeds": seeds,
            "subset": SUBSET, "sets": {}}
    pooled = {label: np.concatenate(v["subset"]) for label, v in per_set.items()}
    bins = np.linspace(min(v.min() for v in pooled.values()),
                       max(v.max() for v in pooled.values()), 50)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, v in per_set.items():
        data["sets"][label] = {
            "count_per_seed": v["count"], "zero_scores_per_seed": v["zero_scores"],
            "spread_per_seed": v["spread"], "median_log10_per_seed": v["median"],
            "median_log10_mean": float(np.mean(v["median"])),
            "subset_log10_seed0": v["subset"][0].tolist()}
        ax.hist(pooled[label], bins, histtype="step", lw=1.6,
                label=f"{label} (median {np.mean(v['median']):.2f})")
    ax.set_xlabel("log10 SynFlow score at initialization (R scaled to 1)")
    ax.set_ylabel(f"weights (a uniform {SUBSET:,} per seed)")
    ax.set_title(f"Fig. 1b: SynFlow scores, {_title(model, dataset)}, density {density:g}, "
                 f"{seeds} seed(s)")
    ax.legend()
    counts = {label: np.histogram(v, bins)[0] for label, v in pooled.items()}
    _write_figure(folder, "fig1b", fig, data, [
        {"bin_left": float(bins[i]), "bin_right": float(bins[i + 1]),
         **{label: int(c[i]) for label, c in counts.items()}} for i in range(len(bins) - 1)])
    plt.close(fig)
    return data


# ----------------------------------------------------------------------------- Fig. 2

def fig2_config(scale: Scale) -> IMP:
    """The Fig. 2 IMP protocol at this scale (the lottery-ticket LeNet setup)."""
    options = dict(scale.fig2_imp)
    name, changes = options.pop("train")
    return IMP(seed=0, train=preset(name, **{**changes, "checkpoint_every": 0}), **options)


_TIMED_MASKS = 200


def fig2_seconds(scale: Scale, out, cache: dict[str, float]) -> float:
    """Estimated seconds of Fig. 2: its IMP search's levels not yet on disk (`estimate`) and the
    shuffled-mask norms, timed on 200 masks per layer at 20% density (the levels' densities
    run from 80% down; the cost grows with min(d, 1 - d), at most 20% past level 1) and scaled
    to every level's count."""
    model, dataset, _ = scale.fig_settings["fig2"]
    config = MaskSpec(model, dataset, fig2_config(scale)).validated().config
    search_s, _ = imp_search_seconds(model, dataset, config, _masks_dir(out), cache)
    key = f"{jax.devices()[0].device_kind}|shuffled-mask norms|{model}|{dataset}"
    if key not in cache:
        theta = trees.flatten(trees.prunable(init_model(model, dataset,
                                                        jax.random.key(0)).params))
        keys = jax.random.split(jax.random.key(0), _TIMED_MASKS)
        layers = [(jnp.asarray(w).ravel(),
                   jnp.asarray(np.arange(w.size) % 5 == 0, jnp.float32)) for w in theta.values()]
        for w, m in layers:        # compile
            random_mask_norms(keys, m, w)
        begin = time.perf_counter()
        for w, m in layers:
            random_mask_norms(keys, m, w)
        cache[key] = (time.perf_counter() - begin) / _TIMED_MASKS
    levels = len(level_files(_masks_dir(out) / search_name(model, dataset, config), model,
                             dataset, config))
    masks = levels * scale.fig2_curve_masks + scale.fig2_random_masks
    return search_s + masks * cache[key]


def fig2(scale: Scale, out, folder, *, data_dir=None) -> dict[str, Any]:
    """The ticket's norm against random masks of the same per-layer density."""
    import matplotlib.pyplot as plt

    model, dataset, density = scale.fig_settings["fig2"]
    spec = MaskSpec(model, dataset, fig2_config(scale)).validated()
    make_mask(spec, masks_dir=_masks_dir(out), data_dir=data_dir, progress=False,
              log=lambda s: None)
    search = _masks_dir(out) / search_name(model, dataset, spec.config)
    theta = trees.flatten(init_model(model, dataset, jax.random.key(0)).params)
    paths = level_files(search, model, dataset, spec.config)
    key = jax.random.key(2)
    levels = []
    for i, path in enumerate(paths):
        mask = load_mask(path)
        row = {"level": i + 1, "density": mask.info.realised_density, "layers": {}}
        total_sq = 0.0
        random_sq = 0.0
        for j, (layer, m) in enumerate(sorted(mask.arrays.items())):
            w = jnp.asarray(theta[layer]).ravel()
            mm = jnp.asarray(m != 0, jnp.float32).ravel()
            ticket = float(jnp.sqrt(jnp.sum(jnp.square(w) * mm)))
            # Each layer its own keys: the masks of one draw are independent across layers
            # (split keys reused across layers of other sizes give prefix-related bits).
            layer_key = jax.random.fold_in(jax.random.fold_in(key, i), j)
            norms = random_mask_norms(jax.random.split(layer_key, scale.fig2_curve_masks), mm, w)
            row["layers"][layer] = {"ticket": ticket, "random_mean": float(norms.mean()),
                                    "random_std": float(norms.std()),
                                    "random_max": float(norms.max()),
                                    "density": float(mm.mean())}
            total_sq += ticket ** 2
            random_sq = random_sq + norms ** 2
        totals = np.sqrt(random_sq)
        row.update(ticket=math.sqrt(total_sq), random_mean=float(totals.mean()),
                   random_std=float(totals.std()), random_max=float(totals.max()),
                   above_all=bool(math.sqrt(total_sq) > totals.max()))
        levels.append(row)
    per_layer = {}
    final_key = jax.random.fold_in(key, 10_000)
    for j, (layer, m) in enumerate(sorted(mask.arrays.items())):   # the last level's mask
        w = jnp.asarray(theta[layer]).ravel()
        mm = jnp.asarray(m != 0, jnp.float32).ravel()
        norms = random_mask_norms(jax.random.split(
            jax.random.fold_in(final_key, j), scale.fig2_random_masks), mm, w)
        per_layer[layer] = {"ticket": float(jnp.sqrt(jnp.sum(jnp.square(w) * mm))),
                            "random": norms, "density": float(mm.mean())}
    fig, axes = plt.subplots(1, 1 + len(per_layer), figsize=(5 + 4 * len(per_layer), 4))
    ax = axes[0]
    dens = [100 * r["density"] for r in levels]
    ax.plot(dens, [r["ticket"] for r in levels], "o-", label="IMP ticket")
    ax.errorbar(dens, [r["random_mean"] for r in levels], yerr=[r["random_std"] for r in levels],
                fmt="s--", label=f"random masks (mean ± std, {scale.fig2_curve_masks:,})")
    _log_density_axis(ax, dens)
    ax.set_xlabel("density of the pruned layers (%)")
    ax.set_ylabel("||m ⊙ θ₀||, all layers")
    ax.set_title("(a) every IMP level")
    ax.legend(fontsize=8, loc="upper right")  # both curves fall to the right (density falls)
    for ax, (layer, v) in zip(axes[1:], per_layer.items()):
        ax.hist(v["random"], 60, color="0.6", label=f"{scale.fig2_random_masks:,} shuffled masks")
        ax.axvline(v["ticket"], color="C3", lw=2, label="IMP ticket")
        ax.set_xlabel(f"||m ⊙ θ₀||, {layer} (density {100 * v['density']:.2f}%)")
        ax.set_ylabel("masks")
        ax.set_title(f"(b) {layer}")
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 2: IMP ticket norm, {_title(model, dataset)}, "
                 f"{len(levels)} levels (final density {100 * levels[-1]['density']:.2f}%), "
                 "seed 0")
    data = {"model": model, "dataset": dataset, "density": density, "seeds": 1,
            "imp": spec.config.record(), "levels": levels,
            "final_layers": {layer: {"ticket": v["ticket"], "density": v["density"],
                                     "random_mean": float(v["random"].mean()),
                                     "random_std": float(v["random"].std()),
                                     "random_max": float(v["random"].max()),
                                     "random_masks": len(v["random"]),
                                     "histogram": np.histogram(v["random"], 60)[0].tolist()}
                             for layer, v in per_layer.items()}}
    _write_figure(folder, "fig2", fig, data, [
        {"level": r["level"], "density": r["density"], "ticket": r["ticket"],
         "random_mean": r["random_mean"], "random_std": r["random_std"],
         "random_max": r["random_max"]} for r in levels])
    plt.close(fig)
    return data


# ----------------------------------------------------------------------------- files

def _log_density_axis(ax, densities: Sequence[float]) -> None:
    """A log density axis, high density on the left, ticks labelled in plain percent."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
    ticks = [t for t in (100, 80, 50, 30, 20, 10, 5, 3, 2, 1, 0.5, 0.2, 0.1)
             if min(densities) / 1.5 <= t <= max(densities) * 1.5]
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.invert_xaxis()


def _write_figure(folder, name: str, fig, data: Mapping[str, Any],
                  rows: Sequence[Mapping[str, Any]]) -> None:
    """<name>.png, <name>.json (the numbers) and <name>.csv (the plotted series)."""
    import csv
    import io
    folder = Path(folder)
    _save_png(fig, folder / f"{name}.png")
    write_json(folder / f"{name}.json", data)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(folder / f"{name}.csv", buf.getvalue())


FIGURE_FUNCTIONS = {"fig1a": fig1a, "fig1b": fig1b, "fig2": fig2}
