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
import functools
import time
from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from sketchjax import inputs, names, scorers, sketch, trees
from sketchjax.counts import kept_count
from sketchjax.errors import SketchjaxError, check_choice
from sketchjax.masks import Mask, mask_metadata
from sketchjax.models.registry import ModelBundle

MAX_KEPT_ERROR = 5   # the reference quits when the threshold's kept count is further off


@dataclasses.dataclass(frozen=True)
class PruneConfig:
    """How to prune. Defaults are the paper's (SynFlow, 100 rounds, hard threshold, d = 10%).

    Attributes:
      method: random | magnitude | snip | grasp | synflow.
      density: fraction of prunable weights kept, in (0, 1].
      rounds: T; None = 100 for synflow, 1 for the others.
      schedule: exponential (d ** ((t+1)/T)) or linear.
      selection: threshold | layerwise_sample | sketch.
      replacement: layerwise_sample with replacement (Algorithm 1 inside each layer).
      synflow_input: ones (reference) or chi (the paper, fresh every round).
      data: real | normal | sparse, for snip and grasp.
      batch_size, num_batches: prune batches for snip and grasp (the paper: one of 256).
      snip_loss: cross_entropy or l1 (Sec. 6 of the paper).
      grasp_temperature: logits are divided by it (the reference: 200).
      signed_weighting: how a randomized selection samples signed scores (grasp, random):
        "positive" (max(score, 0)), "shift" (score - layer min) or "rank" (rank in the
        layer); see `sketch.signed_sampling_weights`. Part of the record only where it acts.
      synflow_input_scaling: scale SynFlow's input so that R stays near 1 (see
        `synflow_input_scales`); off automatically when the net is not linear in its input.
      seed: the PRNG seed of everything random in pruning.
    """
    method: str = "synflow"
    density: float = 0.1
    rounds: Optional[int] = None
    schedule: str = "exponential"
    selection: str = "threshold"
    replacement: bool = False
    synflow_input: str = "ones"
    data: str = "real"
    batch_size: int = 256
    num_batches: int = 1
    snip_loss: str = "cross_entropy"
    grasp_temperature: float = scorers.GRASP_TEMPERATURE
    signed_weighting: str = "positive"
    synflow_input_scaling: bool = True
    seed: int = 0

    @property
    def num_rounds(self) -> int:
        if self.rounds is not None:
            return self.rounds
        return 100 if self.method == "synflow" else 1

    def validate(self) -> "PruneConfig":
        """Raise SketchjaxError on any value outside its range; returns self."""
        check_choice(self.method, names.SCORERS, "method")
        check_choice(self.selection, names.SELECTIONS, "selection")
        check_choice(self.schedule, names.SCHEDULES, "schedule")
        check_choice(self.synflow_input, names.SYNFLOW_INPUTS, "SynFlow input")
        check_choice(self.data, names.PRUNE_DATA, "pruning data")
        check_choice(self.snip_loss, names.SNIP_LOSSES, "SNIP loss")
        check_choice(self.signed_weighting, names.SIGNED_WEIGHTINGS, "signed-score weighting")
        if not (isinstance(self.density, (int, float)) and 0 < self.density <= 1):
            raise SketchjaxError(f"density must be in (0, 1], got {self.density}")
        if self.num_rounds < 1:
            raise SketchjaxError(f"rounds must be >= 1, got {self.num_rounds}")
        if self.batch_size < 1 or self.num_batches < 1:
            raise SketchjaxError("batch size and number of batches must be >= 1")
        if self.replacement and self.selection != "layerwise_sample":
            raise SketchjaxError("replacement applies to --selection layerwise_sample only")
        return self

    @property
    def sampling_rule(self) -> Optional[str]:
        """The signed-score weighting a randomized selection of these scores uses; None where
        it does not act (scores never negative, or the hard threshold)."""
        if self.method in names.SIGNED_SCORERS and self.selection != "threshold":
            return self.signed_weighting
        return None

    def record(self) -> dict[str, Any]:
        """The config as a JSON-able dict, with the round count resolved; the signed-score
        weighting only where it acts (so it does not rename masks it cannot change)."""
        record = dict(dataclasses.asdict(self), rounds=self.num_rounds)
        if self.sampling_rule is None:
            del record["signed_weighting"]
        return record

    @property
    def draws_with_replacement(self) -> bool:
        return self.selection == "sketch" or (self.selection == "layerwise_sample"
                                               and self.replacement)


def compiled_config(config: PruneConfig) -> PruneConfig:
    """The config with the fields that do not change the compiled round set to defaults, so
    that sweeps over density, seed, rounds or schedule reuse one compilation."""
    return dataclasses.replace(config, density=1.0, seed=0, rounds=1, schedule="exponential")


def density_at(config: PruneConfig, t: int) -> float:
    """d_t of round t (0-based)."""
    T, d = config.num_rounds, config.density
    if config.schedule == "exponential":
        return d ** ((t + 1) / T)
    return 1.0 - (1.0 - d) * (t + 1) / T


def selection_at(config: PruneConfig, t: int) -> str:
    """The selection run at round t (with-replacement rules only at the last round)."""
    if config.draws_with_replacement and t < config.num_rounds - 1:
        return "threshold"
    return config.selection


@functools.lru_cache(maxsize=None)
def inference_apply(module) -> scorers.ApplyFn:
    """apply_fn(params, batch_stats, x) -> logits with BN in inference mode; one per module,
    so that jit sees the same static function for the same architecture."""
    def apply_fn(params, batch_stats, x):
        return module.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
    return apply_fn


def _scores(config: PruneConfig, apply_fn, params, batch_stats, input_shape, num_classes,
            key, images, labels, input_scale) -> tuple[dict, jax.Array]:
    """The configured scorer on (already masked) params -> (scores, SynFlow's R or 1)."""
    one = jnp.float32(1.0)
    if config.method == "random":
        return scorers.random_scores(params, key), one
    if config.method == "magnitude":
        return scorers.magnitude_scores(params), one
    if config.method == "synflow":
        x = inputs.synflow_input(config.synflow_input, key, input_shape) * input_scale
        return scorers.synflow_scores_and_total(apply_fn, params, batch_stats, x)
    if config.data != "real":
        images, labels = inputs.random_batches(config.data, key, config.num_batches,
                                               config.batch_size, input_shape, num_classes)
    if config.method == "snip":
        return scorers.snip_scores(apply_fn, params, batch_stats, images, labels,
                                   config.snip_loss), one
    return scorers.grasp_scores(apply_fn, params, batch_stats, images, labels,
                                config.grasp_temperature), one


def linear_in_input(params: Mapping, batch_stats: Mapping) -> bool:
    """True when every bias, BN offset and BN running mean is zero (always at init).

    SynFlow's R is then linear in the input (ReLU is the identity on its non-negative
    activations), so scaling the input scales every score by the same factor.
    """
    offsets = [leaf for path, leaf in {**trees.flatten(params), **trees.flatten(batch_stats)}
               .items() if path.split("/")[-1] in ("bias", "mean")]
    return all(not np.any(np.asarray(leaf)) for leaf in offsets)


_synflow_total = jax.jit(scorers.synflow_total, static_argnums=0)


def synflow_input_scale(config: PruneConfig, bundle: ModelBundle, key: jax.Array) -> jax.Array:
    """The input scale of the first SynFlow round: 1 / R, probing at 2^-100 if R overflows.

    float32 holds R up to 3.4e38; at init R reaches ~1e27 on VGG-19 and more on wider nets.
    Later rounds rescale by the previous round's R (no host sync), so R stays near 1 and
    no score overflows or underflows, while the ranking is exactly the unscaled one.
    """
    x = inputs.synflow_input(config.synflow_input, key, bundle.input_shape)
    for probe in (1.0, 2.0 ** -100):
        r = float(_synflow_total(inference_apply(bundle.module), bundle.params,
                                 bundle.batch_stats, x * probe))
        if np.isfinite(r) and r > 0:
            return jnp.float32(probe / r)
    return jnp.float32(1.0)


@jax.jit
def _next_scale(scale: jax.Array, total: jax.Array) -> jax.Array:
    """Divide by the last R so the next R is ~1; keep the scale if R was 0 or not finite."""
    return jnp.where(jnp.isfinite(total) & (total > 0), scale / total, scale)


@functools.partial(jax.jit, static_argnames=("config", "apply_fn", "input_shape",
                                             "num_classes", "selection", "draws"))
def prune_round(params, batch_stats, mask, kept, key, images, labels, input_scale, *,
                config, apply_fn, input_shape, num_classes, selection, draws):
    """One round: scores of params * mask, then a selection keeping `kept` weights.

    The mask is carried between rounds as one flat vector over the prunable leaves (sorted
    path order), so a round concatenates only the scores.

    Args:
      kept: int32 scalar, the round's `kept_count` (for `sketch`, the static `draws` is used).
      draws: s of Algorithm 1 for the `sketch` selection (static), else None.
    Returns:
      (the new flat mask, whether every score was finite, SynFlow's R at this input scale).
    """
    score_key, select_key = jax.random.split(key)
    template = trees.prunable(params)
    masked = trees.apply_mask(params, trees.split(mask, template))
    scores, total = _scores(config, apply_fn, masked, batch_stats, input_shape, num_classes,
                            score_key, images, labels, input_scale)
    flat_scores = trees.concat(scores)
    new_mask = sketch.select_flat(
        flat_scores, mask, kept, select_key, selection=selection,
        sizes=trees.sizes(template), num_draws=draws, replacement=config.replacement,
        signed_weighting=config.sampling_rule)
    return new_mask, jnp.all(jnp.isfinite(flat_scores)), total


def prune(bundle: ModelBundle, config: PruneConfig, *, dataset: str = "",
          real_data: Optional[tuple[jax.Array, jax.Array]] = None,
          progress: bool = True) -> Mask:
    """Run the pruning loop on an initialised model.

    Args:
      bundle: the model and its initial parameters.
      config: what to run (validated here).
      dataset: recorded in the metadata.
      real_data: stacked (images (nb, B, ...), labels (nb, B)) when config.data == "real"
        for snip/grasp.
      progress: a tqdm bar over rounds.
    Returns:
      The Mask with its metadata (realised density, per-layer counts, s, timings).
    """
    config.validate()
    needs_data = config.method in names.DATA_SCORERS and config.data == "real"
    if needs_data and real_data is None:
        raise SketchjaxError(f"{config.method} with real data needs prune batches")
    images, labels = real_data if needs_data else (jnp.zeros(()), jnp.zeros((), jnp.int32))
    key = jax.random.key(config.seed)
    template = trees.prunable(bundle.params)
    n = trees.count_params(template)
    target = kept_count(n, config.density)
    mask = jnp.ones((n,), jnp.float32)
    scaled = (config.method == "synflow" and config.synflow_input_scaling
              and linear_in_input(bundle.params, bundle.batch_stats))
    scale = (synflow_input_scale(config, bundle, jax.random.fold_in(key, 0)) if scaled
             else jnp.float32(1.0))
    finite = []   # device scalars, read once after the loop (no per-round host sync)
    start = time.perf_counter()
    for t in tqdm(range(config.num_rounds), desc=f"{config.method} rounds",
                  disable=not progress or config.num_rounds == 1, leave=False):
        selection = selection_at(config, t)
        kept = kept_count(n, density_at(config, t))
        mask, round_finite, total = prune_round(
            bundle.params, bundle.batch_stats, mask, jnp.int32(kept),
            jax.random.fold_in(key, t), images, labels, scale, config=compiled_config(config),
            apply_fn=inference_apply(bundle.module),
            input_shape=tuple(bundle.input_shape), num_classes=bundle.num_classes,
            selection=selection, draws=kept if selection == "sketch" else None)
        finite.append(round_finite)
        if scaled:
            scale = _next_scale(scale, total)
    arrays = {p: np.asarray(a) for p, a in trees.flatten(trees.split(mask, template)).items()}
    seconds = time.perf_counter() - start
    bad_rounds = [t for t, ok in enumerate(jax.device_get(finite)) if not ok]
    if bad_rounds:
        raise SketchjaxError(f"{config.method} scores were not finite (inf or nan) in round(s) "
                             f"{bad_rounds[:5]} of {config.num_rounds}; no mask written")
    metadata = _metadata(config, bundle, dataset, scaled, arrays,
                         target if config.draws_with_replacement else None, seconds)
    if not config.draws_with_replacement and abs(metadata["kept"] - target) > MAX_KEPT_ERROR:
        raise SketchjaxError(
            f"pruning kept {metadata['kept']} weights, expected {target} "
            f"(density {config.density} of {n}): ties in the scores (often zero scores "
            f"of disconnected weights) make the threshold overshoot; try fewer rounds "
            f"or another selection")
    return Mask(arrays, metadata)


def _metadata(config: PruneConfig, bundle: ModelBundle, dataset: str, scaled: bool,
              arrays: dict, draws: Optional[int], seconds: float) -> dict[str, Any]:
    """The record stored with the mask."""
    inputs_record: dict[str, Any] = {}
    if config.method == "synflow":
        inputs_record = {"synflow_input": config.synflow_input,
                         "chi_dim": inputs.CHI_DIM if config.synflow_input == "chi" else None,
                         "input_scaled_to_unit_output": scaled}
    elif config.method in names.DATA_SCORERS:
        inputs_record = {"data": config.data, "batch_size": config.batch_size,
                         "num_batches": config.num_batches}
        if config.method == "snip":
            inputs_record["loss"] = config.snip_loss
        else:
            inputs_record["temperature"] = config.grasp_temperature
    return mask_metadata(
        arrays, method=config.method, model=bundle.name, dataset=dataset,
        num_classes=bundle.num_classes, input_shape=bundle.input_shape, seed=config.seed,
        density=config.density, inputs=inputs_record, selection=config.selection,
        replacement=config.replacement,
        intermediate_selection=selection_at(config, 0) if config.num_rounds > 1 else None,
        signed_weighting=config.sampling_rule,
        rounds=config.num_rounds, schedule=config.schedule, s=draws,
        prune_seconds=round(seconds, 3))
