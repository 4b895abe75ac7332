"""Training batch streams for one or several seeds: the real training split, or random data.

Several seeds are trained in one program (vmap), so their batches come stacked (S, B, ...).
Real batches are host numpy arrays (`pipelines.train_batches`, one stream per seed); random
`normal` batches are generated on device, batch t of seed s from fold_in(key(s) stream, t), so a
run resumed at step t sees the batches an uninterrupted run sees.
"""
from __future__ import annotations

import functools
from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

from sketchjax.data.pipelines import train_batches
from sketchjax.data.random_data import normal_batch

_NORMAL_STREAM = 2  # fold_in tag of the random-data stream (0, 1 are the pipelines')


def real_train_stream(dataset: str, batch_size: int, seeds: Sequence[int], data_dir,
                      augment: bool, start_epoch: int) -> Iterator[dict[str, np.ndarray]]:
    """Global training batches from `start_epoch` on; stacked (S, B, ...) when len(seeds) > 1."""
    streams = [train_batches(dataset, batch_size, seed, data_dir, augment, True,
                             start_epoch=start_epoch) for seed in seeds]
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
