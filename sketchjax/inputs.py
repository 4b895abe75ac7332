"""Pruning inputs: SynFlow's `ones` / `chi` inputs and the data batches of SNIP and GraSP.

Random inputs are pure functions of an explicit key; `real` batches come from the dataset
pipelines (tensorflow-datasets or the offline sets) and are drawn once before pruning.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from sketchjax.data import random_data
from sketchjax.errors import check_choice
from sketchjax.names import SYNFLOW_INPUTS

CHI_DIM = 128


def ones_input(input_shape: Sequence[int]) -> jax.Array:
    """The reference SynFlow input: all ones, batch 1."""
    return jnp.ones((1, *input_shape), jnp.float32)


def chi_input(key: jax.Array, shape: Sequence[int], n: int = CHI_DIM) -> jax.Array:
    """Entries ||z|| / sqrt(n), z ~ N(0, I_n): the law of a row norm of X ~ N(0, 1/n) (Sec. 5).

    Args:
      key: PRNG key; draw a fresh one at every pruning iteration.
      shape: output shape, e.g. (1, H, W, C).
      n: the dimension of z (the paper: 128).
    Returns:
      f32[shape], chi_n / sqrt(n) distributed entries.
    """
    z = jax.random.normal(key, (*shape, n), jnp.float32)
    return jnp.sqrt(jnp.mean(jnp.square(z), axis=-1))


def synflow_input(kind: str, key: jax.Array, input_shape: Sequence[int]) -> jax.Array:
    """(1, *input_shape) input of kind `ones` or `chi`."""
    check_choice(kind, SYNFLOW_INPUTS, "SynFlow input")
    if kind == "ones":
        return ones_input(input_shape)
    return chi_input(key, (1, *input_shape))


def random_batches(kind: str, key: jax.Array, num_batches: int, batch_size: int,
                   input_shape: Sequence[int], num_classes: int) -> tuple[jax.Array, jax.Array]:
    """Stacked `normal` or `sparse` batches: images (nb, B, ...), labels (nb, B)."""
    make = {"normal": random_data.normal_batch, "sparse": random_data.sparse_batch}[kind]
    keys = jax.random.split(key, num_batches)
    return jax.vmap(lambda k: make(k, batch_size, tuple(input_shape), num_classes))(keys)


def real_batches(dataset: str, num_batches: int, batch_size: int, seed: int,
                 data_dir=None) -> tuple[jax.Array, jax.Array]:
    """Stacked batches of the training set with the training augmentation."""
    from sketchjax.data import pipelines  # imports tensorflow lazily: only for real data

    batches = [pipelines.prune_batch(dataset, batch_size, seed + i, data_dir)
               for i in range(num_batches)]
    return (jnp.stack([jnp.asarray(b[0]) for b in batches]),
            jnp.stack([jnp.asarray(b[1]) for b in batches]))
