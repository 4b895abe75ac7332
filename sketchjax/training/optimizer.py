"""The optimizer: L2 weight decay, SGD or Adam on a step schedule, and the masked update.

Pruned weights stay exactly 0 for the whole run: params start as params * mask and the last
transform of the chain (`mask_updates`) zeroes the update of every pruned entry, after momentum
and weight decay have been applied, so p + u = 0 + 0 at every step. (`optax.masked` is per leaf
and cannot do this.)
"""
from __future__ import annotations

import functools

import jax.numpy as jnp
import optax

from sketchjax import trees
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


def mask_updates() -> optax.GradientTransformationExtraArgs:
    """Zero the updates of pruned weights; the mask comes as `update(..., mask=tree)`.

    `mask` holds the prunable leaves only (any non-zero entry = trainable); other leaves pass
    unchanged. `jnp.where`, not a product, so a non-finite update cannot leak into a pruned
    weight. Put it last in the chain: after momentum and weight decay.
    """
    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None, *, mask=None, **extra_args):
        del params, extra_args
        if mask is None:
            raise ValueError("mask_updates needs the mask: tx.update(grads, state, params, "
                             "mask=mask_tree)")
        flat_mask = trees.flatten(mask)
        masked = {p: (jnp.where(flat_mask[p] != 0, u, jnp.zeros_like(u)) if p in flat_mask
                      else u) for p, u in trees.flatten(updates).items()}
        return trees.unflatten(masked), state

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
