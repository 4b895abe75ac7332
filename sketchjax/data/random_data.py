"""Random pruning data (docs/methods.md, "Pruning data"): `normal` and `sparse` batches, pure JAX.

Both live in *normalised* input space: N(0, 1) per entry is "the dataset's mean and std" once
the usual (x - mean) / std is applied, so no dataset statistics are needed here. Labels are
uniform over the classes. The same key gives the same images in both functions: a sparse batch
is the normal batch of that key with all but one image zeroed at every pixel location.
Batch size and shapes are static (Python ints): wrap with `jax.jit(..., static_argnums=(1, 2, 3))`.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from sketchjax.errors import SketchjaxError


def _check(batch_size: int, input_shape: Sequence[int], num_classes: int) -> tuple[int, ...]:
    """Validate the static arguments; return the input shape as a tuple."""
    shape = tuple(int(s) for s in input_shape)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise SketchjaxError(f"batch_size must be a positive int, got {batch_size!r}")
    if len(shape) < 2 or any(s < 1 for s in shape):
        raise SketchjaxError(
            f"input_shape must be (H, W, C) or (L, C) with positive sizes, got {input_shape!r}")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise SketchjaxError(f"num_classes must be a positive int, got {num_classes!r}")
    return shape


def normal_batch(key: jax.Array, batch_size: int, input_shape: Sequence[int],
                 num_classes: int, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """A batch of N(0, 1) images (normalised input space) with uniform random labels.

    Args:
      key: a PRNG key (`jax.random.key` or `jax.random.PRNGKey`).
      batch_size: B.
      input_shape: one example's shape, (H, W, C) or (L, C).
      num_classes: labels are drawn uniformly from [0, num_classes).
      dtype: the images' dtype.
    Returns:
      images: (B, *input_shape) of `dtype`; labels: (B,) int32.
    """
    shape = _check(batch_size, input_shape, num_classes)
    k_images, k_labels, _ = jax.random.split(key, 3)
    images = jax.random.normal(k_images, (batch_size, *shape), dtype)
    labels = jax.random.randint(k_labels, (batch_size,), 0, num_classes, dtype=jnp.int32)
    return images, labels


def sparse_batch(key: jax.Array, batch_size: int, input_shape: Sequence[int],
                 num_classes: int, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """`normal_batch` where each pixel location keeps its value in one image only.

    For every location (h, w) of an (H, W, C) input, or l of an (L, C) input, one image of the
    batch is drawn uniformly; that image keeps all C channels there, every other image is 0.
    Summed over the batch, each location is thus covered exactly once.

    Args:
      key: a PRNG key; the kept values equal those of `normal_batch(key, ...)`.
      batch_size: B.
      input_shape: one example's shape, (H, W, C) or (L, C).
      num_classes: labels are drawn uniformly from [0, num_classes).
      dtype: the images' dtype.
    Returns:
      images: (B, *input_shape) of `dtype`; labels: (B,) int32 (same as `normal_batch`).
    """
    shape = _check(batch_size, input_shape, num_classes)
    images, labels = normal_batch(key, batch_size, shape, num_classes, dtype)
    _, _, k_owner = jax.random.split(key, 3)
    owner = jax.random.randint(k_owner, shape[:-1], 0, batch_size)  # one image per location
    batch_index = jnp.arange(batch_size).reshape((batch_size,) + (1,) * (len(shape) - 1))
    keep = (batch_index == owner[None])[..., None]  # (B, *spatial, 1): all channels together
    return jnp.where(keep, images, jnp.zeros((), dtype)), labels
