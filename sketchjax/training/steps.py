"""TrainState with masks, the pure train/eval steps, and their jitted, data-parallel forms.

One run may train several seeds at once (`jax.vmap` of the step: one compiled program; each seed
sees its own data order). Every device takes part: a 1-D `Mesh` over `jax.devices()` (every
host's after `jax.distributed.initialize()`), the batch sharded along its batch axis, the state
replicated; XLA inserts the gradient all-reduce.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from sketchjax import trees
from sketchjax.errors import check_choice
from sketchjax.names import MASK_MODES

DATA_AXIS = "data"


class TrainState(train_state.TrainState):
    """flax's TrainState plus BatchNorm statistics and the binary mask of trainable weights.

    Attributes (besides step, params, opt_state, apply_fn, tx):
      batch_stats: the 'batch_stats' collection ({} for models without BN).
      mask: float32 0/1 tree over the prunable leaves; 0 = pruned (never updated).
    """
    batch_stats: Any = None
    mask: Any = None

    def apply_gradients(self, *, grads, **kwargs) -> "TrainState":
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params, mask=self.mask)
        params = optax.apply_updates(self.params, updates)
        return self.replace(step=self.step + 1, params=params, opt_state=opt_state, **kwargs)


@functools.lru_cache(maxsize=None)
def module_apply(module):
    """`module.apply` of the first module equal to `module`: one object per architecture.

    `TrainState.apply_fn` is static, so it is part of the compiled step's cache key; bound
    methods of equal but distinct module instances compare unequal, and each new instance would
    compile the step again (and keep the old executable alive: an IMP search or a sweep then
    runs out of executable memory after a few hundred runs).
    """
    return module.apply


def create_train_state(module, params: Mapping, batch_stats: Mapping,
                       mask: Optional[Mapping], tx: optax.GradientTransformation, *,
                       mask_mode: str = "binary", step: int = 0) -> TrainState:
    """A TrainState whose params start as params * mask.

    Args:
      module: the Linen module (its `apply` becomes `state.apply_fn`).
      params, batch_stats: initial variables.
      mask: tree over the prunable leaves (binary, or Algorithm 1 values); None = dense.
      tx: the optimizer (from `make_optimizer`).
      mask_mode: "binary": params * support(mask); "scaled": params * mask values.
      step: the initial global step.
    Returns:
      the state; `state.mask` is the support of `mask` as float32 0/1.
    """
    check_choice(mask_mode, MASK_MODES, "mask mode")
    values = (trees.ones_mask(params) if mask is None
              else jax.tree.map(lambda m: jnp.asarray(m, jnp.float32), dict(mask)))
    support = jax.tree.map(lambda m: (m != 0).astype(jnp.float32), values)
    start = trees.apply_mask(params, values if mask_mode == "scaled" else support)
    state = TrainState.create(apply_fn=module_apply(module), params=start, tx=tx,
                              batch_stats=dict(batch_stats), mask=support)
    return state.replace(step=jnp.asarray(step, jnp.int32))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy, in float32."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)


def train_step(state: TrainState, batch: Mapping[str, jax.Array]
               ) -> tuple[TrainState, dict[str, jax.Array]]:
    """One SGD/Adam step on mean cross-entropy, BatchNorm in training mode. Pure; no randomness.

    Args:
      state: the TrainState.
      batch: {"image": (B, *input_shape), "label": int32 (B,)}.
    Returns:
      (new state, {"loss_sum", "correct", "count"}: float32 sums over the batch).
    """
    images, labels = batch["image"], batch["label"]

    def loss_fn(params):
        variables = {"params": params, "batch_stats": state.batch_stats}
        logits, updated = state.apply_fn(variables, images, train=True,
                                         mutable=["batch_stats"])
        return cross_entropy(logits, labels).mean(), (logits, updated)

    (loss, (logits, updated)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    batch_stats = dict(updated).get("batch_stats", state.batch_stats)
    state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    n = jnp.float32(labels.shape[0])
    correct = jnp.sum(jnp.argmax(logits, -1) == labels, dtype=jnp.float32)
    return state, {"loss_sum": loss * n, "correct": correct, "count": n}


def eval_step(state: TrainState, batch: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """Sums of loss and correct predictions, BatchNorm in inference mode.

    Args:
      state: the TrainState.
      batch: {"image", "label"} and optionally "weight" (B,) float32: 0 marks padding.
    Returns:
      {"loss_sum", "correct", "count"} (weighted sums, float32).
    """
    images, labels = batch["image"], batch["label"]
    weight = batch.get("weight", jnp.ones(labels.shape, jnp.float32))
    logits = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats},
                            images, train=False)
    hit = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return {"loss_sum": jnp.sum(weight * cross_entropy(logits, labels)),
            "correct": jnp.sum(weight * hit), "count": jnp.sum(weight)}


@jax.jit
def add_sums(a, b):
    """Elementwise sum of two metric-sum trees (on device)."""
    return jax.tree.map(jnp.add, a, b)


def data_mesh(devices: Optional[Sequence] = None) -> Mesh:
    """A 1-D mesh named "data" over all devices (every host's, after jax.distributed)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (DATA_AXIS,))


def batch_sharding(mesh: Mesh, stacked: bool) -> NamedSharding:
    """Training batches split along their batch axis (axis 1 when stacked over seeds)."""
    return NamedSharding(mesh, PartitionSpec(None, DATA_AXIS) if stacked
                         else PartitionSpec(DATA_AXIS))


@functools.lru_cache(maxsize=16)
def compiled_steps(mesh: Mesh, stacked: bool):
    """(train, eval) jitted with the state replicated and the batch split over the mesh."""
    replicated = NamedSharding(mesh, PartitionSpec())
    train_batch = batch_sharding(mesh, stacked)
    eval_batch = batch_sharding(mesh, False)
    step = jax.vmap(train_step) if stacked else train_step
    evaluate = jax.vmap(eval_step, in_axes=(0, None)) if stacked else eval_step
    return (jax.jit(step, in_shardings=(replicated, train_batch),
                    out_shardings=(replicated, replicated)),
            jax.jit(evaluate, in_shardings=(replicated, eval_batch), out_shardings=replicated))


def put_batch(batch: Mapping[str, np.ndarray], sharding: NamedSharding) -> dict:
    """Place a host batch (the same global batch on every host) with `sharding`."""
    if jax.process_count() == 1:
        return jax.device_put(dict(batch), sharding)
    return {k: jax.make_array_from_callback(np.shape(v), sharding,
                                            lambda idx, v=v: np.asarray(v)[idx])
            for k, v in batch.items()}
