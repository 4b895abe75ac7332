"""The optimizer: L2 weight decay, SGD or Adam on a step schedule, and the masked update.

Pruned weights stay exactly 0 for the whole run: params start as params * mask and the last
transform of the chain (`mask_updates`) zeroes the update of every pruned entry, after momentum
and weight decay have been applied, so p + u = 0 + 0 at every step. (`optax.masked` is per leaf
and cannot do this.) `with_mask` wraps any optax transformation the same way for your own loop.
"""
from __future__ import annotations

import functools
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from sketchjax import trees
from sketchjax.masks import Mask
from sketchjax.training.config import TrainConfig


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int,
                           step_offset: int = 0) -> optax.Schedule:
    """lr * gamma ** (number of milestones passed), by global step.

    Args:
      config: the training config.
      steps_per_epoch: optimizer steps per epoch.
      step_offset: global step of the optimizer's first update (IMP levels resume the
        schedule at the rewind step with a fresh optimizer, whose own count starts at 0).
    Returns:
      count -> lr, jit-compatible.
    """
    boundaries = jnp.asarray([m * steps_per_epoch for m in config.milestones] or [0],
                             jnp.int32)
    active = bool(config.milestones)
    lr, gamma = float(config.lr), float(config.gamma)

    def schedule(count):
        step = jnp.asarray(count, jnp.int32) + step_offset
        passed = jnp.sum(step >= boundaries) if active else 0
        return lr * jnp.power(jnp.float32(gamma), passed)

    return schedule


def _masked(updates, mask: Mapping, params=None):
    """The updates with every pruned entry (mask == 0) replaced: by 0, or by -params when the
    params are given, so p + u is exactly 0 even for a weight that was not zero yet. `jnp.where`,
    not a product, so a non-finite update cannot leak into a pruned weight."""
    flat_mask = trees.paths_of(mask)
    flat_params = trees.paths_of(params) if params is not None else {}

    def masked(keys, u):
        path = trees.key_path(keys)
        m = flat_mask.get(path)
        if m is None:
            return u
        # -p in the params' own dtype (an update in a narrower one would not cancel p).
        pruned = -flat_params[path] if path in flat_params else jnp.zeros_like(u)
        return jnp.where(m != 0, u, pruned)
    return jax.tree_util.tree_map_with_path(masked, updates)


def mask_updates() -> optax.GradientTransformationExtraArgs:
    """Zero the updates of pruned weights; the mask comes as `update(..., mask=tree)`.

    `mask` holds the prunable leaves only (any non-zero entry = trainable); other leaves pass
    unchanged. Put it last in the chain: after momentum and weight decay. (The training loop's
    form: its masks are stacked over seeds in the TrainState; `with_mask` keeps one mask in the
    optimizer state instead.)
    """
    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None, *, mask=None, **extra_args):
        del params, extra_args
        if mask is None:
            raise ValueError("mask_updates needs the mask: tx.update(grads, state, params, "
                             "mask=mask_tree)")
        return _masked(updates, mask), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class WithMaskState(NamedTuple):
    """`with_mask`'s state: the wrapped optimizer's, and the mask's support by path."""
    inner: optax.OptState
    mask: dict


def with_mask(tx: optax.GradientTransformation, mask) -> optax.GradientTransformationExtraArgs:
    """`tx` whose updates leave pruned weights at exactly 0, the mask riding in its state.

    Any optax loop works unchanged (flax's `TrainState.apply_gradients` included): the
    wrapped `update` replaces the update of every pruned entry by -params (0 without params),
    after `tx` (momentum, weight decay), so pruned weights are 0 from the first step on, even
    if they were not masked before. Wrap the whole optimizer (the learning rate included):
    a transformation after it would scale the -params.

    Args:
      tx: any optax transformation.
      mask: a `Mask` (its support, `Mask.binary()`) or a tree over some of the params' leaves
        (non-zero = trainable), by path.
    Returns:
      the transformation; its state is `WithMaskState(inner, mask)`.
    """
    support = mask.binary() if isinstance(mask, Mask) else mask
    support = {p: (jnp.asarray(m) != 0).astype(jnp.float32)
               for p, m in trees.paths_of(support).items()}
    inner_tx = optax.with_extra_args_support(tx)

    def init_fn(params):
        trees.check_paths(support, params)
        return WithMaskState(inner_tx.init(params), support)

    def update_fn(updates, state, params=None, **extra_args):
        updates, inner = inner_tx.update(updates, state.inner, params, **extra_args)
        return _masked(updates, state.mask, params), WithMaskState(inner, state.mask)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@functools.lru_cache(maxsize=32)
def make_optimizer(config: TrainConfig, steps_per_epoch: int,
                   step_offset: int = 0) -> optax.GradientTransformationExtraArgs:
    """The optax chain: L2 weight decay -> SGD/Adam with the lr schedule -> `mask_updates`.

    Cached, so equal configs share one transformation object (and one compiled step).
    """
    lr = learning_rate_schedule(config, steps_per_epoch, step_offset)
    parts = []
    if config.weight_decay:
        parts.append(optax.add_decayed_weights(config.weight_decay))
    if config.optimizer == "sgd":
        parts.append(optax.sgd(lr, momentum=config.momentum or None, nesterov=config.nesterov))
    else:
        parts.append(optax.adam(lr, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps))
    parts.append(mask_updates())
    return optax.chain(*parts)
