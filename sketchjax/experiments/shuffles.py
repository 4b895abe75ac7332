"""Fig. 2's random masks: the ticket's mask shuffled inside a layer (a uniform random subset of
the layer's positions with the ticket's count), and the norms of the masked initial weights.

Two exact ways to draw a uniform k-subset of m positions:

- by sorting: the positions of the k smallest of m random 32-bit keys (`shuffled_mask`); one
  sort of m keys per mask (the reference, and the path for k = 0 or m);
- by first distinct draws (`random_mask_norms`): D i.i.d. uniform positions, of which the first
  s = min(k, m - k) distinct ones in draw order form a uniform s-subset by symmetry (for
  k > m / 2 the subset is the complement). Whether a draw is the first of its value comes from
  one scatter-min of the draw indices into m slots, so a mask costs O(m + D) with no sort:
  on a 235,200-weight layer 34x cheaper than the sort at 1.2% density, 2.5x at 50% (measured
  side by side: benchmarks/bench_shuffles.py, BENCHMARKS.md). D is chosen so
  that fewer than s distinct draws would be a 10-sigma event, and any mask where it happens is
  redrawn by sorting, so every mask is exactly uniform.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

BATCH = 250          # masks per vmapped batch (memory)


def shuffled_mask(key: jax.Array, mask: jax.Array) -> jax.Array:
    """The mask's ones moved to uniformly random positions: (m,) 0/1 -> (m,) 0/1, same count.

    The positions of the k smallest of m random 32-bit keys (a tie at the k-th key, rare,
    broken by position): a uniform random k-subset, i.e. a shuffle of the mask, at the cost of
    one sort of the keys (measured: 5x cheaper than `jax.random.permutation` or a two-key
    sort on XLA:CPU).
    """
    bits = jax.random.bits(key, mask.shape, jnp.uint32)
    k = jnp.sum(mask != 0)
    last = jnp.sort(bits)[jnp.maximum(k - 1, 0)]
    below, tie = bits < last, bits == last
    chosen = below | (tie & (jnp.cumsum(tie) <= k - jnp.sum(below)))
    return jnp.where(k > 0, chosen, False).astype(jnp.float32)


def draws_for(m: int, s: int) -> int:
    """D: draws whose expected distinct count exceeds s by 10 standard deviations (rounded
    up to a multiple of 1024, so that few shapes compile)."""
    d = s
    while True:
        expected = m * -math.expm1(d * math.log1p(-1.0 / m))
        if expected - 10.0 * math.sqrt(expected) >= s:
            return min(-(-d // 1024) * 1024, 64 * m)
        d = int(d * 1.05) + 64


def _first_distinct(key: jax.Array, m: int, s: jax.Array, draws: int):
    """(positions (D,), taken (D,) bool, enough): the first s distinct of D uniform draws."""
    idx = jax.random.randint(key, (draws,), 0, m)
    order = jnp.arange(draws, dtype=jnp.int32)
    first_at = jnp.full((m,), draws, jnp.int32).at[idx].min(order)
    first = first_at[idx] == order
    return idx, first & (jnp.cumsum(first) <= s), jnp.sum(first) >= s


@functools.partial(jax.jit, static_argnames=("draws", "complement"))
def _sparse_norms(keys, theta, s, *, draws: int, complement: bool):
    v = jnp.square(theta)
    total = jnp.sum(v)

    def one(key):
        positions, taken, enough = _first_distinct(key, theta.shape[0], s, draws)
        picked = jnp.sum(jnp.where(taken, v[positions], 0.0))
        return jnp.sqrt(jnp.maximum(total - picked, 0.0) if complement else picked), enough
    return jax.lax.map(one, keys, batch_size=BATCH)


@jax.jit
def _sorted_norms(keys, mask, theta):
    v = jnp.square(theta)
    return jax.lax.map(lambda key: jnp.sqrt(jnp.sum(v * shuffled_mask(key, mask))), keys,
                       batch_size=BATCH)


@functools.partial(jax.jit, static_argnames=("m", "draws", "complement"))
def _sparse_masks(keys, s, *, m: int, draws: int, complement: bool):
    def one(key):
        positions, taken, enough = _first_distinct(key, m, s, draws)
        chosen = jnp.zeros((m,), jnp.float32).at[positions].max(taken.astype(jnp.float32))
        return (1.0 - chosen) if complement else chosen, enough
    return jax.vmap(one)(keys)


def _plan(mask) -> tuple[int, int, bool]:
    """(m, s, complement) of a mask; s = 0 (nothing or everything kept): draw by sorting."""
    m, k = int(np.size(mask)), int(np.count_nonzero(np.asarray(mask)))
    return m, min(k, m - k), k > m - k


def random_mask_norms(keys: jax.Array, mask: jax.Array, theta: jax.Array) -> np.ndarray:
    """||theta * shuffle(mask)|| for every key: one jitted, batched computation.

    Args:
      keys: (n,) PRNG keys.
      mask: (m,) 0/1 mask of one layer; theta: (m,) its initial weights.
    Returns:
      (n,) norms; each shuffle a uniform random subset of the mask's count.
    """
    m, s, complement = _plan(mask)
    if not s:
        return np.asarray(_sorted_norms(keys, jnp.asarray(mask, jnp.float32), theta))
    norms, enough = _sparse_norms(keys, theta, jnp.int32(s), draws=draws_for(m, s),
                                  complement=complement)
    norms, enough = np.array(norms), np.asarray(enough)
    if not enough.all():     # a 10-sigma shortfall of distinct draws: redraw those by sorting
        norms[~enough] = np.asarray(_sorted_norms(keys[~enough], jnp.asarray(mask, jnp.float32),
                                                  theta))
    return norms


def shuffled_masks(keys: jax.Array, mask: jax.Array) -> np.ndarray:
    """The masks `random_mask_norms` draws for these keys, (n, m) 0/1 (for checks: memory n m)."""
    m, s, complement = _plan(mask)
    if not s:
        return np.asarray(jax.vmap(lambda key: shuffled_mask(key, jnp.asarray(mask)))(keys))
    masks, enough = _sparse_masks(keys, jnp.int32(s), m=m, draws=draws_for(m, s),
                                  complement=complement)
    masks = np.array(masks)
    if not np.asarray(enough).all():
        redo = np.asarray(~enough)
        masks[redo] = np.asarray(jax.vmap(lambda key: shuffled_mask(key, jnp.asarray(mask)))(
            keys[redo]))
    return masks
