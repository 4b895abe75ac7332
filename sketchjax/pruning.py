"""The pruning loop: T rounds of (score params * mask, shrink density, select).

    for t in 0..T-1:
        scores = scorer(params * mask)
        d_t = d ** ((t + 1) / T)                      # or linear: 1 - (1 - d)(t + 1) / T
        mask = select(scores, kept_count(N, d_t), key_t)   # rebuilt from the scores every round

One compiled function runs a whole round (scores and selection); the kept count and the keys
are traced arguments, so all T rounds reuse one compilation. The counts are exact Python ints
(`sketchjax.counts.kept_count`), computed on the host for every round. Selections that draw with replacement
(`sketch`, `layerwise_sample` with replacement) are one-shot: they run at the last round and
earlier rounds use the hard threshold. Repeating them every round would compound the loss of
duplicate draws (s draws from ~s survivors keep ~63% of them) and collapse the mask.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
import time
import warnings
from typing import Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from sketchjax import distributions, inputs, scorers, sketch, trees
from sketchjax.counts import kept_count
from sketchjax.errors import SketchjaxError
from sketchjax.masks import EmptyLayersWarning, Mask, empty_layers_message, mask_metadata
from sketchjax.methods import OneShot, ScoreInputs
from sketchjax.models.registry import ModelBundle

MAX_KEPT_ERROR = 5   # the reference quits when the threshold's kept count is further off


def density_at(method: OneShot, t: int, density: Optional[float] = None) -> float:
    """d_t of round t (0-based), for the method's density or another (a layer's own)."""
    T, d = method.num_rounds, method.density if density is None else density
    if method.schedule == "exponential":
        return d ** ((t + 1) / T)
    return 1.0 - (1.0 - d) * (t + 1) / T


def layer_budgets(method: OneShot, shapes: Mapping[str, tuple], t: int) -> Optional[np.ndarray]:
    """Round t's kept count per layer (int32[L], sorted path order) under the method's
    distribution, every density on the round schedule; None for the global one.

    Never below the last round's count: rounding by largest remainder may give a layer fewer
    weights at a larger total, and a weight pruned in an earlier round cannot come back.
    """
    def counts_at(r: int) -> Optional[np.ndarray]:
        overrides = tuple((pattern, density_at(method, r, d))
                          for pattern, d in method.layer_density)
        counts = distributions.layer_counts(method.distribution, shapes,
                                            density_at(method, r), overrides)
        return (None if counts is None
                else np.asarray([counts[p] for p in sorted(shapes)], np.int32))
    last = method.num_rounds - 1
    now = counts_at(t)
    return now if now is None or t == last else np.maximum(now, counts_at(last))


def selection_at(method: OneShot, t: int) -> str:
    """The selection run at round t (with-replacement rules only at the last round)."""
    if method.draws_with_replacement and t < method.num_rounds - 1:
        return "threshold"
    return method.selection


@dataclasses.dataclass(frozen=True)
class Prunable:
    """Which leaves a pruning run prunes: those `rule` accepts (default `trees.is_prunable`,
    the Conv and Dense kernels) and no `keep_dense` pattern matches (fnmatch on the path, e.g.
    "Dense_2/kernel" or "head/*"). Hashable, so equal rules share a compiled round."""
    rule: Optional[trees.PrunableRule] = None
    keep_dense: tuple[str, ...] = ()

    def __call__(self, path: str, leaf) -> bool:
        return ((self.rule or trees.is_prunable)(path, leaf)
                and not any(fnmatch.fnmatchcase(path, pat) for pat in self.keep_dense))

    @property
    def is_default(self) -> bool:
        return self.rule is None and not self.keep_dense

    def record(self) -> dict:
        """What the mask's metadata says of a rule other than the default."""
        rule = "kernels (default)" if self.rule is None else getattr(
            self.rule, "__qualname__", repr(self.rule))
        return {"rule": rule, "keep_dense": list(self.keep_dense)}

    def template(self, params: Mapping) -> dict:
        """The prunable leaves of `params`, by path (one clear error when there are none, or
        when a keep_dense pattern names no prunable leaf)."""
        base = trees.prunable(params, self.rule)
        paths = list(trees.flatten(base))
        for pattern in self.keep_dense:
            if not any(fnmatch.fnmatchcase(p, pattern) for p in paths):
                raise SketchjaxError(f"keep_dense {pattern!r} matches no prunable leaf; they "
                                     f"are: {', '.join(paths[:8])}")
        kept = trees.prunable(params, self)
        if not trees.flatten(kept):
            leaves = list(trees.paths_of(params))
            raise SketchjaxError(
                "nothing to prune: " + ("every prunable leaf is kept dense" if paths else
                "the prunable rule takes leaves named 'kernel' with >= 2 dimensions (the "
                "kernels of Conv and Dense layers) and the params have none; pass prunable="
                "a function (path, leaf) -> bool") + f". The params' leaves: "
                f"{', '.join(leaves[:8])}" + (" ..." if len(leaves) > 8 else ""))
        return kept


def linear_in_input(params: Mapping, batch_stats: Mapping) -> bool:
    """True when every bias, BN offset and BN running mean is zero (always at init).

    SynFlow's R is then linear in the input (ReLU is the identity on its non-negative
    activations), so scaling the input scales every score by the same factor.
    """
    offsets = [leaf for path, leaf in {**trees.flatten(params), **trees.flatten(batch_stats)}
               .items() if path.split("/")[-1] in ("bias", "mean")]
    return all(not np.any(np.asarray(leaf)) for leaf in offsets)


_synflow_total = jax.jit(scorers.synflow_total, static_argnums=0)


def synflow_input_scale(kind: str, bundle: ModelBundle, key: jax.Array) -> jax.Array:
    """The input scale of the first SynFlow round: 1 / R, probing at 2^-100 if R overflows.

    float32 holds R up to 3.4e38; at init R reaches ~1e27 on VGG-19 and more on wider nets.
    Later rounds rescale by the previous round's R (no host sync), so R stays near 1 and
    no score overflows or underflows, while the ranking is exactly the unscaled one.
    """
    x = inputs.synflow_input(kind, key, bundle.input_shape)
    for probe in (1.0, 2.0 ** -100):
        r = float(_synflow_total(bundle.apply_fn, bundle.params,
                                 bundle.batch_stats, x * probe))
        if np.isfinite(r) and r > 0:
            return jnp.float32(probe / r)
    return jnp.float32(1.0)


@jax.jit
def _next_scale(scale: jax.Array, total: jax.Array) -> jax.Array:
    """Divide by the last R so the next R is ~1; keep the scale if R was 0 or not finite."""
    return jnp.where(jnp.isfinite(total) & (total > 0), scale / total, scale)


@functools.partial(jax.jit, static_argnames=("method", "apply_fn", "input_shape",
                                             "num_classes", "selection", "draws", "rule"))
def prune_round(params, batch_stats, mask, kept, key, images, labels, input_scale,
                layer_kept=None, *, method, apply_fn, input_shape, num_classes, selection,
                draws, rule=Prunable()):
    """One round: scores of params * mask, then a selection keeping `kept` weights.

    The mask is carried between rounds as one flat vector over the prunable leaves (sorted
    path order), so a round concatenates only the scores.

    Args:
      kept: int32 scalar, the round's `kept_count` (for `sketch`, the static `draws` is used).
      layer_kept: int32[L], the round's per-layer budgets (`layer_budgets`), or None.
      draws: s of Algorithm 1 for the `sketch` selection (static), else None.
      rule: the prunable leaves (`Prunable`, static).
    Returns:
      (the new flat mask, whether every score was finite, SynFlow's R at this input scale).
    """
    score_key, select_key = jax.random.split(key)
    template = trees.prunable(params, rule)
    masked = trees.apply_mask(params, trees.split(mask, template))
    scores, total = method.score_and_total(ScoreInputs(
        apply_fn, masked, batch_stats, input_shape, num_classes, score_key, images, labels,
        input_scale, None if rule.is_default else rule))
    flat_scores = trees.concat(scores)
    new_mask = sketch.select_flat(
        flat_scores, mask, kept, select_key, selection=selection,
        sizes=trees.sizes(template), num_draws=draws, replacement=method.replacement,
        signed_weighting=method.sampling_rule, layer_counts=layer_kept)
    return new_mask, jnp.all(jnp.isfinite(flat_scores)), total


def _stacked(real_data: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """(images, labels) as stacked batches (nb, B, ...), (nb, B): one batch gets an axis."""
    images, labels = (jnp.asarray(a) for a in real_data)
    if labels.ndim == 1:
        return images[None], labels[None]
    if labels.ndim != 2 or images.shape[:2] != labels.shape:
        raise SketchjaxError(f"prune batches must be images (B, ...) with labels (B,), or "
                             f"(nb, B, ...) with (nb, B); got {images.shape} and {labels.shape}")
    return images, labels


def prune(bundle: ModelBundle, method: OneShot, *, dataset: str = "",
          real_data: Optional[tuple[jax.Array, jax.Array]] = None,
          progress: bool = True, prunable: Optional[trees.PrunableRule] = None,
          keep_dense: Sequence[str] = ()) -> Mask:
    """Run the pruning loop on an initialised model.

    Args:
      bundle: the model and its initial parameters (a registry model, `init_model`, or your
        own, `sketchjax.models.own`).
      method: a one-shot method (`sketchjax.methods`), validated here.
      dataset: recorded in the metadata.
      real_data: (images, labels) where the method scores on real data (else unused):
        stacked batches (nb, B, ...) and (nb, B) (`method.prune_batches`), or one batch
        (B, ...) and (B,).
      progress: a tqdm bar over rounds.
      prunable: (path, leaf) -> bool, the leaves to prune; default: every leaf named
        "kernel" with >= 2 dimensions (Conv and Dense kernels).
      keep_dense: fnmatch patterns of prunable paths to leave dense (e.g. "Dense_2/kernel").
    Returns:
      The Mask with its metadata (realised density, per-layer counts, s, timings).
    """
    if not isinstance(method, OneShot):
        raise SketchjaxError(f"{type(method).__name__} is not a one-shot method (IMP runs "
                             "its search: `make_mask` or `run_imp`)")
    method = method.validated(bundle.name, dataset)
    if method.needs_real_data and real_data is None:
        raise SketchjaxError(f"{method.name} with real data needs prune batches "
                             "(`method.prune_batches`)")
    images, labels = (_stacked(real_data) if method.needs_real_data
                      else (jnp.zeros(()), jnp.zeros((), jnp.int32)))
    rule = Prunable(prunable, (keep_dense,) if isinstance(keep_dense, str) else tuple(keep_dense))
    key = jax.random.key(method.seed)
    template = rule.template(bundle.params)
    n = trees.count_params(template)
    shapes = {p: tuple(np.shape(leaf)) for p, leaf in trees.flatten(template).items()}
    final_budgets = layer_budgets(method, shapes, method.num_rounds - 1)
    target = (kept_count(n, method.density) if final_budgets is None
              else int(final_budgets.sum()))
    mask = jnp.ones((n,), jnp.float32)
    scale = method.input_scale(bundle, jax.random.fold_in(key, 0))
    scaled = scale is not None
    scale = scale if scaled else jnp.float32(1.0)
    finite = []   # device scalars, read once after the loop (no per-round host sync)
    start = time.perf_counter()
    for t in tqdm(range(method.num_rounds), desc=f"{method.name} rounds",
                  disable=None if progress and method.num_rounds > 1 else True,  # no tty: off
                  leave=False):
        selection = selection_at(method, t)
        kept = kept_count(n, density_at(method, t))
        budgets = layer_budgets(method, shapes, t)
        mask, round_finite, total = prune_round(
            bundle.params, bundle.batch_stats, mask, jnp.int32(kept),
            jax.random.fold_in(key, t), images, labels, scale,
            None if budgets is None else jnp.asarray(budgets), method=method.compiled(),
            apply_fn=bundle.apply_fn,
            input_shape=tuple(bundle.input_shape), num_classes=bundle.num_classes,
            selection=selection, rule=rule,
            draws=kept if selection == "sketch" and budgets is None else None)
        finite.append(round_finite)
        if scaled:
            scale = _next_scale(scale, total)
    arrays = {p: np.asarray(a) for p, a in trees.flatten(trees.split(mask, template)).items()}
    seconds = time.perf_counter() - start
    bad_rounds = [t for t, ok in enumerate(jax.device_get(finite)) if not ok]
    if bad_rounds:
        raise SketchjaxError(f"{method.name} scores were not finite (inf or nan) in round(s) "
                             f"{bad_rounds[:5]} of {method.num_rounds}; no mask written")
    metadata = mask_metadata(
        arrays, method=method.name, model=bundle.name, dataset=dataset,
        num_classes=bundle.num_classes, input_shape=bundle.input_shape, seed=method.seed,
        density=method.density, inputs=method.inputs_record(scaled),
        selection=method.selection, replacement=method.replacement,
        intermediate_selection=selection_at(method, 0) if method.num_rounds > 1 else None,
        signed_weighting=method.sampling_rule, rounds=method.num_rounds,
        schedule=method.schedule, s=target if method.draws_with_replacement else None,
        prune_seconds=round(seconds, 3),
        **({} if rule.is_default else {"prunable_rule": rule.record()}),
        **({} if final_budgets is None else {
            "distribution": method.distribution,
            "layer_density": [list(e) for e in method.layer_density],
            "layer_budgets": dict(zip(sorted(shapes), final_budgets.tolist()))}))
    if not method.draws_with_replacement and abs(metadata["kept"] - target) > MAX_KEPT_ERROR:
        raise SketchjaxError(
            f"pruning kept {metadata['kept']} weights, expected {target} "
            f"(density {method.density} of {n}): ties in the scores (often zero scores "
            f"of disconnected weights) make the threshold overshoot; try fewer rounds "
            f"or another selection")
    mask = Mask(arrays, metadata)
    empty = empty_layers_message(mask.info)
    if empty:
        warnings.warn(empty, EmptyLayersWarning, stacklevel=2)
    return mask
