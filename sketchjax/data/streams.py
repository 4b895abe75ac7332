"""Training batch streams for one or several seeds: the real training split, or random data.

Several seeds are trained in one program (vmap), so their batches come stacked (S, B, ...).
Real batches are host numpy arrays (`pipelines.train_batches`, one stream per seed). Random
data is generated on device:
- `normal`: fresh N(0, 1) images with uniform labels, batch t of seed s from
  fold_in(fold_in(key(s), 2), t);
- `normal_fixed`: a fixed random training set of N examples (the real split's size), example i
  of seed s drawn from fold_in(fold_in(key(s), 3), i), image and label fixed for the whole run,
  visited in the same per-epoch order as real data (`pipelines.epoch_order`); nothing is
  stored, each batch is regenerated from its indices.
Either way a run resumed at step t sees the batches an uninterrupted run sees.
"""
from __future__ import annotations

import functools
from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

from sketchjax.data.pipelines import TRAIN_STREAM, epoch_order, train_batches
from sketchjax.data.random_data import normal_batch

_NORMAL_STREAM = 2  # fold_in tags of the random-data streams (0, 1 are the pipelines')
_FIXED_STREAM = 3


def real_train_stream(dataset: str, batch_size: int, seeds: Sequence[int], data_dir,
                      augment: bool, start_epoch: int,
                      start_batch: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Global training batches from batch `start_batch` of `start_epoch` on; stacked
    (S, B, ...) when len(seeds) > 1."""
    streams = [train_batches(dataset, batch_size, seed, data_dir, augment, True,
                             start_epoch=start_epoch, start_batch=start_batch)
               for seed in seeds]
    if len(streams) == 1:
        return streams[0]
    return ({k: np.stack([b[k] for b in batches]) for k in ("image", "label")}
            for batches in zip(*streams))


@functools.lru_cache(maxsize=16)
def normal_batch_fn(batch_size: int, input_shape: tuple[int, ...], num_classes: int,
                    sharding: NamedSharding, stacked: bool):
    """Jitted (base keys, step) -> a random `normal` batch (one per seed if stacked), on device."""

    def one(key, step):
        images, labels = normal_batch(jax.random.fold_in(key, step), batch_size, input_shape,
                                      num_classes)
        return {"image": images, "label": labels}

    fn = jax.vmap(one, in_axes=(0, None)) if stacked else one
    return jax.jit(fn, out_shardings=sharding)


def normal_data_keys(seeds: Sequence[int]) -> jax.Array:
    """The base key of each seed's random-data stream: fold_in(key(seed), 2). Shape (S,)."""
    return jnp.stack([jax.random.fold_in(jax.random.key(s), _NORMAL_STREAM) for s in seeds])


@functools.lru_cache(maxsize=16)
def fixed_random_batch_fn(input_shape: tuple[int, ...], num_classes: int,
                          sharding: NamedSharding, stacked: bool):
    """Jitted (base keys, example indices) -> those examples of the fixed random set.

    Example i: image N(0, 1) of `input_shape` and label uniform in [0, num_classes), both from
    fold_in(base key, i). Indices (B,) or, stacked, (S, B) with keys (S,).
    """
    def example(key, i):
        k_image, k_label = jax.random.split(jax.random.fold_in(key, i))
        return (jax.random.normal(k_image, input_shape, jnp.float32),
                jax.random.randint(k_label, (), 0, num_classes, jnp.int32))

    def batch(key, idx):
        images, labels = jax.vmap(example, in_axes=(None, 0))(key, idx)
        return {"image": images, "label": labels}

    fn = jax.vmap(batch) if stacked else batch
    return jax.jit(fn, out_shardings=sharding)


def fixed_random_stream(num_examples: int, batch_size: int, input_shape: tuple[int, ...],
                        num_classes: int, seeds: Sequence[int], start_step: int,
                        sharding: NamedSharding) -> Iterator[dict[str, jax.Array]]:
    """Device batches of each seed's fixed random set from global step `start_step` on
    (num_examples // batch_size steps per epoch, the remainder dropped)."""
    stacked = len(seeds) > 1
    generate = fixed_random_batch_fn(tuple(input_shape), num_classes, sharding, stacked)
    keys = jnp.stack([jax.random.fold_in(jax.random.key(s), _FIXED_STREAM) for s in seeds])
    keys = keys if stacked else keys[0]
    epoch, first = divmod(start_step, num_examples // batch_size)
    while True:
        orders = [epoch_order(s, TRAIN_STREAM, epoch, num_examples)[0] for s in seeds]
        for b in range(first, num_examples // batch_size):
            idx = np.stack([o[b * batch_size:(b + 1) * batch_size] for o in orders])
            yield generate(keys, jnp.asarray(idx if stacked else idx[0], jnp.int32))
        epoch, first = epoch + 1, 0
