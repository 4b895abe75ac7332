"""Selection rules: hard threshold, layerwise sampling, and Algorithm 1 (sketching).

Everything here is jit-compatible and works on flat float32 vectors; the pytree wrappers
concatenate the prunable leaves in sorted path order (`sketchjax.trees`) and split back.
Selections take the number of weights to keep (`sketchjax.counts.kept_count`), never a density.

Costs (N weights, s draws):
- `kth_smallest`: exact, O(N) passes. A random sample brackets the k-th value, the few
  elements inside the bracket are compacted into a small buffer and the bracket step is
  applied again to it; only the last, tiny buffer is sorted. A full sort runs only if the
  bracket misses (probability ~1e-4 per call for the 4-sigma margin), so the answer is
  always exact.
- `sample_indices` (Algorithm 1's draws): a two-level inverse CDF. The weights are cut into
  rows of `_ROW` entries; one uniform picks the row by binary search over row totals, a second
  picks the entry by binary search inside the row's own cumulative sum. Cost O(N) for the
  cumulative sums plus O(s log N) for the searches. Two levels instead of one cumulative sum
  over all N: at N = 2e7 a single float32 CDF cannot resolve p_i ~ 5e-8 (its spacing near 1
  is 6e-8); per-row sums keep every level's relative rounding at ~1e-6.
- layerwise sampling without replacement: exponential races (keep the k_l smallest E_i / w_i,
  E_i ~ Exp(1), compared as log E_i - log w_i so that no race overflows), which is exactly
  Gumbel-top-k, i.e. successive sampling without replacement proportional to w. Each
  layer's k_l-th race key is found like `kth_smallest`, for all layers at once: one bracket
  from a sample of every layer, one compaction, a second bracket on each layer's compacted
  entries, one small sort. Layers are processed as static slices of one flat vector inside one
  compiled function rather than vmapped: layer sizes differ by up to 1000x (VGG-19: 1,728 to
  2,359,296), so padding to a common size would cost up to 2.7x the work.
"""
from __future__ import annotations

import functools
import math
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sketchjax import trees
from sketchjax.names import SELECTIONS, SIGNED_WEIGHTINGS

_SORT_BELOW = 1 << 12      # vectors this short are simply sorted (measured crossover)
_SAMPLE = 1 << 15          # bracket sample size at the top level
_ROW = 1 << 12             # row length of the two-level inverse CDF


# ----------------------------------------------------------------------------------------
# Exact k-th smallest value without a full sort.

def _bracket_plan(n: int) -> tuple[int, int]:
    """(sample size, buffer size) for one bracket level over n elements."""
    m = min(_SAMPLE, max(1024, int(2 * n ** (2 / 3))))
    margin = 2 * math.sqrt(m) + 8          # 4 sigma of a sample quantile at p = 1/2, plus slack
    buffer = int(1.5 * n * (2 * margin + 2) / m) + 256
    return m, min(buffer, n)


@functools.lru_cache(maxsize=64)
def _sample_positions(n: int, m: int) -> np.ndarray:
    """Fixed pseudo-random positions (a static constant of the compiled program)."""
    return np.sort(np.random.default_rng(n).choice(n, size=m, replace=False)).astype(np.int32)


def _bernoulli_variance(p: jax.Array) -> jax.Array:
    """p (1 - p), never negative: XLA may compute k / n as k * (1 / n), so p can exceed 1 by an
    ulp, and a negative variance would turn the bracket margin into NaN."""
    return jnp.maximum(p * (1.0 - p), 0.0)


def _bracket(sample: jax.Array, start, m, k: jax.Array, n) -> tuple[jax.Array, jax.Array]:
    """(lo, hi] that holds the k-th smallest of n elements with high probability.

    sample holds, from `start`, m sorted values drawn from those n elements; the margin is 4
    sigma of the sample quantile plus slack. Works elementwise over groups (arrays) or for one.
    """
    p = jnp.clip(k.astype(jnp.float32) / jnp.maximum(n, 1), 0.0, 1.0)
    center = p * m
    margin = 4.0 * jnp.sqrt(m * _bernoulli_variance(p)) + 8.0
    lo_i = jnp.floor(center - margin).astype(jnp.int32)
    hi_i = jnp.ceil(center + margin).astype(jnp.int32)
    lo = jnp.where(lo_i < 0, -jnp.inf, sample[start + jnp.clip(lo_i, 0, m - 1)])
    hi = jnp.where(hi_i >= m, jnp.inf, sample[start + jnp.clip(hi_i, 0, m - 1)])
    return lo, hi


def _compact(x: jax.Array, inside: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    """The entries of x where `inside`, in order, then +inf: (f32[size], how many are inside).

    Entries past `size` are dropped; callers check the count against it.
    """
    position = jnp.cumsum(inside, dtype=jnp.int32)
    slot = jnp.where(inside, position - 1, size)
    return jnp.full((size,), jnp.inf, x.dtype).at[slot].set(x, mode="drop"), position[-1]


def kth_smallest(x: jax.Array, k: jax.Array) -> jax.Array:
    """The k-th smallest entry (1-based) of a 1-D array, exactly, in O(n) passes.

    Args:
      x: f32[n], may hold +-inf (not NaN).
      k: int scalar in [1, n] (traced is fine).
    Returns:
      f32 scalar, equal to jnp.sort(x)[k - 1].
    """
    n = x.shape[0]
    k = jnp.asarray(k, jnp.int32)
    if n <= _SORT_BELOW:
        return jnp.sort(x)[jnp.clip(k - 1, 0, n - 1)]
    m, buffer = _bracket_plan(n)
    lo, hi = _bracket(jnp.sort(x[_sample_positions(n, m)]), 0, m, k, n)
    # Bracket (lo, hi]: exclusive below so that ties at lo (the zeros of pruned weights)
    # are counted, not copied.
    at_or_below = jnp.sum(x <= lo, dtype=jnp.int32)
    # +inf entries (never-kept weights) stay out even when hi = +inf: they can be most of x.
    inside = (x > lo) & (x <= hi) & (x < jnp.inf)
    compact, n_inside = _compact(x, inside, buffer)
    ok = (at_or_below < k) & (k <= at_or_below + n_inside) & (n_inside <= buffer)

    def from_bracket():
        return kth_smallest(compact, jnp.clip(k - at_or_below, 1, buffer))

    def exact_fallback():
        # k <= at_or_below with ties at lo: the answer is lo itself when fewer than k lie
        # strictly below it; otherwise the bracket missed and we sort.
        below = jnp.sum(x < lo, dtype=jnp.int32)
        tie_at_lo = (k <= at_or_below) & (below < k)
        return jax.lax.cond(tie_at_lo, lambda: lo, lambda: jnp.sort(x)[k - 1])

    return jax.lax.cond(ok, from_bracket, exact_fallback)


def threshold_mask(scores: jax.Array, kept: jax.Array,
                   alive: jax.Array | None = None) -> jax.Array:
    """Hard threshold over all n entries, the reference semantics.

    k = n - kept entries are pruned: the threshold is the k-th smallest score and an entry is
    kept when its score is above it (ties at the threshold are pruned). k < 1 leaves the mask
    unchanged.

    Args:
      scores: f32[n]; entries that must not be kept (pruned weights) hold -inf.
      kept: int scalar, the number to keep (traced is fine).
      alive: f32[n] current mask, returned as it is when k < 1; None = all ones.
    Returns:
      f32[n] binary mask.
    """
    n = scores.shape[0]
    k = n - jnp.asarray(kept, jnp.int32)
    thr = kth_smallest(scores, jnp.maximum(k, 1))
    unchanged = jnp.ones_like(scores, jnp.bool_) if alive is None else alive != 0
    return jnp.where(k < 1, unchanged, scores > thr).astype(jnp.float32)


# ----------------------------------------------------------------------------------------
# Algorithm 1: s i.i.d. draws with replacement from p, values count / (s p).

def _binary_search(cdf_at, length: int, u: jax.Array, start: jax.Array) -> jax.Array:
    """First j in [0, length) with cdf_at(start + j) > u, vectorised over u."""
    lo = jnp.zeros(u.shape, jnp.int32)
    hi = jnp.full(u.shape, length, jnp.int32)

    def step(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        go_right = cdf_at(start + jnp.minimum(mid, length - 1)) <= u
        return jnp.where(go_right, mid + 1, lo), jnp.where(go_right, hi, mid)

    lo, _ = jax.lax.fori_loop(0, max(1, math.ceil(math.log2(length + 1))), step, (lo, hi))
    return jnp.minimum(lo, length - 1)


def sample_indices(key: jax.Array, weights: jax.Array, num_draws: int,
                   row_length: int = _ROW) -> jax.Array:
    """num_draws i.i.d. indices with P(i) = weights_i / sum(weights) (two-level inverse CDF).

    Args:
      key: PRNG key.
      weights: f32[n], non-negative, not all zero.
      num_draws: static int s.
      row_length: static entries per row of the two-level CDF.
    Returns:
      int32[s] indices; an entry with zero weight is never drawn.
    """
    n = weights.shape[0]
    rows = -(-n // row_length)
    w = jnp.pad(weights.astype(jnp.float32), (0, rows * row_length - n)).reshape(rows, -1)
    row_cdf = jnp.cumsum(w, axis=1)
    row_total = row_cdf[:, -1]
    top_cdf = jnp.cumsum(row_total)
    # Rounding can put u at the very top of a level; the search then lands on the last
    # entry, which must be one with positive weight.
    last_row = rows - 1 - jnp.argmax((row_total > 0)[::-1])
    last_col = row_length - 1 - jnp.argmax((w > 0)[:, ::-1], axis=1)
    key_row, key_col = jax.random.split(key)
    u_row = jax.random.uniform(key_row, (num_draws,)) * top_cdf[-1]
    row = _binary_search(lambda j: top_cdf[j], rows, u_row, jnp.zeros_like(u_row, jnp.int32))
    row = jnp.minimum(row, last_row)
    # Only the counts matter to Algorithm 1, not the order of the draws: group the draws by
    # row (a counting sort) so that the searches inside rows read memory in order.
    row = jnp.repeat(jnp.arange(rows, dtype=jnp.int32),
                     jnp.zeros((rows,), jnp.int32).at[row].add(1), total_repeat_length=num_draws)
    u_col = jax.random.uniform(key_col, (num_draws,)) * row_total[row]
    flat_cdf = row_cdf.reshape(-1)
    col = _binary_search(lambda j: flat_cdf[j], row_length, u_col, row * row_length)
    col = jnp.minimum(col, last_col[row])
    return row * row_length + col


def sketch_counts(key: jax.Array, probs: jax.Array, num_draws: int,
                  row_length: int = _ROW, dtype=jnp.int32) -> jax.Array:
    """How often Algorithm 1 draws each entry: [n] of `dtype`, summing to num_draws."""
    idx = sample_indices(key, probs, num_draws, row_length)
    return jnp.zeros(probs.shape, dtype).at[idx].add(1)


def sketch_mask(key: jax.Array, probs: jax.Array, num_draws: int,
                row_length: int = _ROW) -> jax.Array:
    """Algorithm 1 of the paper: m_i = count_i / (s p_i) from s draws with replacement.

    Args:
      key: PRNG key.
      probs: f32[n] non-negative weights (normalised here), not all zero.
      num_draws: static int s.
      row_length: see `sample_indices`.
    Returns:
      f32[n] mask; ||m||_0 <= s, E[m_i] = 1 for every p_i > 0.
    """
    p = probs / jnp.sum(probs)
    # float counts: a float scatter saves the int -> float pass over n (~0.08 s at n = 2e7)
    counts = sketch_counts(key, probs, num_draws, row_length, jnp.float32)
    return jnp.where(counts > 0, counts / (num_draws * jnp.where(p > 0, p, 1.0)), 0.0)


# ----------------------------------------------------------------------------------------
# Per-layer operations on a flat vector cut into static segments.

def _segments(sizes: Sequence[int]) -> list[tuple[int, int]]:
    offsets = np.cumsum((0,) + tuple(sizes))
    return [(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:])]


def _segment_sums(x: jax.Array, sizes: Sequence[int]) -> jax.Array:
    """int32[L]: sum of x over each static segment (e.g. kept weights per layer)."""
    return jnp.stack([jnp.sum(x[a:b], dtype=jnp.int32) for a, b in _segments(sizes)])


_LAYER_SAMPLE_CAP = 1 << 13   # per-layer bracket sample, so one sort covers all layers


def _per_element(values: jax.Array, sizes: Sequence[int]) -> jax.Array:
    """Broadcast one value per segment to its elements (fused by XLA, no index array)."""
    return jnp.concatenate([jnp.broadcast_to(values[l], (n,)) for l, n in enumerate(sizes)])


@functools.lru_cache(maxsize=64)
def _layer_sample_plan(sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Static sample positions for every segment, their segment ids, offsets, buffer size."""
    positions, ids, counts, buffer = [], [], [], 256
    for l, (a, b) in enumerate(_segments(sizes)):
        n = b - a
        m = min(n, _LAYER_SAMPLE_CAP, max(256, int(2 * n ** (2 / 3))))
        positions.append(a + _sample_positions(n, m) if m < n else np.arange(a, b))
        ids.append(np.full(m, l, np.int32))
        counts.append(m)
        if m < n:
            buffer += int(1.5 * n * (2 * (2 * math.sqrt(m) + 8) + 2) / m)
        else:
            buffer += n
    offsets = np.cumsum([0] + counts)[:-1]
    return (np.concatenate(positions).astype(np.int32), np.concatenate(ids), offsets,
            min(buffer, sum(sizes)))


_GROUP_SAMPLE = 1 << 12   # second bracket level: sample per group of the compacted buffer


def _group_of_slots(group_start: jax.Array, group_size: jax.Array, size: int) -> jax.Array:
    """int32[size]: the group of each slot of a buffer of contiguous groups; G past their end."""
    slots = jnp.arange(size, dtype=jnp.int32)
    # side="right" skips empty groups, which share their start with the next group.
    group = jnp.searchsorted(group_start, slots, side="right").astype(jnp.int32) - 1
    return jnp.where(slots < jnp.sum(group_size), group, group_start.shape[0])


def _group_counts(flag: jax.Array, group_start: jax.Array, group_size: jax.Array) -> jax.Array:
    """int32[G]: how many entries of each contiguous group are flagged."""
    total = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.cumsum(flag, dtype=jnp.int32)])
    return total[group_start + group_size] - total[group_start]


def _kth_of_groups_by_sort(buf: jax.Array, group_start: jax.Array, group_size: jax.Array,
                           k: jax.Array) -> jax.Array:
    """f32[G]: the k[g]-th smallest of every group of buf, by one sort by (group, value)."""
    group = _group_of_slots(group_start, group_size, buf.shape[0])
    _, ordered = jax.lax.sort((group, buf), num_keys=2)
    return ordered[jnp.clip(group_start + k - 1, 0, buf.shape[0] - 1)]


def _kth_of_groups(buf: jax.Array, group_start: jax.Array, group_size: jax.Array,
                   k: jax.Array) -> jax.Array:
    """f32[G]: the k[g]-th smallest (1-based) of every contiguous group of buf, exactly.

    Args:
      buf: f32[size], group g at [group_start[g], group_start[g] + group_size[g]), no +inf
        inside a group.
      group_start, group_size, k: int32[G]; k[g] in [1, group_size[g]] where the group is not
        empty (empty groups get an arbitrary value).
    A group larger than `_GROUP_SAMPLE` is bracketed by a strided sample of itself and only its
    in-bracket entries are sorted (sorting the whole buffer costs ~400 ms at 1.4M entries on
    this CPU, the bracket pass ~50 ms); smaller groups are answered by the sorted sample.
    A missed bracket falls back to sorting the whole buffer, so the answer is always exact.
    A buffer under 2 G `_GROUP_SAMPLE` entries is simply sorted (cheaper than the samples).
    """
    size, n_groups, m = buf.shape[0], group_start.shape[0], _GROUP_SAMPLE
    if size <= 2 * n_groups * m:
        return _kth_of_groups_by_sort(buf, group_start, group_size, k)
    j = jnp.arange(m, dtype=jnp.int32)[None, :]
    start, n = group_start[:, None], group_size[:, None]
    big = group_size > m
    # Exact integer stride j * n / m without overflowing int32.
    strided = start + j * (n // m) + (j * (n % m)) // m
    pos = jnp.clip(jnp.where(big[:, None], strided, start + j), 0, size - 1)
    sample = jnp.sort(jnp.where(big[:, None] | (j < n), buf[pos], jnp.inf), axis=1).reshape(-1)
    rows = jnp.arange(n_groups, dtype=jnp.int32) * m
    small_answer = sample[rows + jnp.clip(k - 1, 0, m - 1)]
    lo, hi = _bracket(sample, rows, m, k, group_size)
    group = _group_of_slots(group_start, group_size, size)
    in_big = jnp.append(big, False)[group]
    lo_e, hi_e = jnp.append(lo, jnp.inf)[group], jnp.append(hi, jnp.inf)[group]
    at_or_below = _group_counts(in_big & (buf <= lo_e), group_start, group_size)
    inside = in_big & (buf > lo_e) & (buf <= hi_e)
    margin = 2 * math.sqrt(m) + 8
    size2 = min(size, int(1.5 * size * (2 * margin + 2) / m) + 256 * n_groups)
    compact, n_total = _compact(buf, inside, size2)
    n_inside = _group_counts(inside, group_start, group_size)
    rank = k - at_or_below
    ok = jnp.all(~big | ((rank >= 1) & (rank <= n_inside))) & (n_total <= size2)
    found = jax.lax.cond(
        ok,
        lambda: _kth_of_groups_by_sort(compact, jnp.cumsum(n_inside) - n_inside, n_inside, rank),
        lambda: _kth_of_groups_by_sort(buf, group_start, group_size, k))
    return jnp.where(big, found, small_answer)


def kth_smallest_per_layer(x: jax.Array, sizes: Sequence[int], k: jax.Array) -> jax.Array:
    """The k[l]-th smallest entry of every segment of x, exactly, in one joint pass.

    One sort of a static sample of every segment brackets each answer; one pass counts and
    compacts the in-bracket entries (grouped by segment, in order); a second bracket level on
    that buffer (`_kth_of_groups`) finds every answer. A missed first-level bracket falls back
    to a full sort by (segment, value).

    Args:
      x: f32[n] (no NaN).
      sizes: static segment sizes (sum n).
      k: int32[L], each in [1, sizes[l]].
    Returns:
      f32[L].
    """
    sizes = tuple(sizes)
    n_seg = len(sizes)
    seg_size = jnp.asarray(sizes, jnp.int32)
    k = jnp.clip(jnp.asarray(k, jnp.int32), 1, seg_size)
    positions, ids, sample_start, buffer = _layer_sample_plan(sizes)
    _, sample = jax.lax.sort((jnp.asarray(ids), x[positions]), num_keys=2)
    m = jnp.asarray(np.diff(np.append(sample_start, len(positions))), jnp.int32)
    # Segments no larger than their sample are answered by the sorted sample itself; their
    # elements are kept out of the bracket pass (lo = hi = +inf).
    full = m == seg_size
    start = jnp.asarray(sample_start, jnp.int32)
    exact_small = sample[start + jnp.minimum(k, m) - 1]
    lo, hi = _bracket(sample, start, m, k, seg_size)
    lo, hi = jnp.where(full, jnp.inf, lo), jnp.where(full, jnp.inf, hi)
    lo_e, hi_e = _per_element(lo, sizes), _per_element(hi, sizes)
    at_or_below = _segment_sums(x <= lo_e, sizes)
    inside = (x > lo_e) & (x <= hi_e) & (x < jnp.inf)
    n_inside = _segment_sums(inside, sizes)
    compact, n_total = _compact(x, inside, buffer)
    bracketed = (at_or_below < k) & (k <= at_or_below + n_inside)
    ok = jnp.all(full | bracketed) & (n_total <= buffer)

    def from_buffer():
        found = _kth_of_groups(compact, jnp.cumsum(n_inside) - n_inside, n_inside,
                               jnp.where(full, 1, k - at_or_below))
        return jnp.where(full, exact_small, found)

    def full_sort():
        seg_ids = _per_element(jnp.arange(n_seg, dtype=jnp.int32), sizes)
        _, ordered = jax.lax.sort((seg_ids, x), num_keys=2)
        return ordered[jnp.asarray(np.cumsum((0,) + sizes)[:-1], jnp.int32) + k - 1]

    return jax.lax.cond(ok, from_buffer, full_sort)


def keep_k_smallest_per_layer(keys: jax.Array, sizes: Sequence[int],
                              k: jax.Array) -> jax.Array:
    """Binary mask keeping exactly k[l] entries with the smallest keys in every segment.

    Ties at a segment's k-th value are broken by position, so the counts are exact.
    """
    k = jnp.asarray(k, jnp.int32)
    thr_e = _per_element(kth_smallest_per_layer(keys, sizes, jnp.maximum(k, 1)), sizes)
    k_e = _per_element(k, sizes)
    at_or_below = (keys <= thr_e) & (k_e > 0)

    def break_ties():
        below = (keys < thr_e) & (k_e > 0)
        equal = (keys == thr_e) & (k_e > 0)
        running = jnp.cumsum(equal, dtype=jnp.int32)
        before_segment = _per_element(jnp.cumsum(_segment_sums(equal, sizes))
                                      - _segment_sums(equal, sizes), sizes)
        need = k_e - _per_element(_segment_sums(below, sizes), sizes)
        return below | (equal & (running - before_segment <= need))

    exact = jnp.all(_segment_sums(at_or_below, sizes) == k)
    return jax.lax.cond(exact, lambda: at_or_below, break_ties).astype(jnp.float32)


# Race key of an alive weight whose sampling weight is 0: after every weight with a positive
# weight (whose keys log E - log w stay below ~110 in float32), in random order among themselves.
_ZERO_WEIGHT_RACE = 1e4


def _race_keys(key: jax.Array, weights: jax.Array, alive: jax.Array) -> jax.Array:
    """log E_i - log w_i (E_i ~ Exp(1)); alive zero-weight entries next; dead entries +inf."""
    e = jax.random.exponential(key, weights.shape)
    positive = alive & (weights > 0)
    race = jnp.log(e) - jnp.log(jnp.where(positive, weights, 1.0))
    return jnp.where(positive, race, jnp.where(alive, _ZERO_WEIGHT_RACE + e, jnp.inf))


def layerwise_sample_mask(key: jax.Array, weights: jax.Array, counts: jax.Array,
                          sizes: Sequence[int], alive: jax.Array | None = None) -> jax.Array:
    """Per layer, draw counts[l] entries without replacement, P proportional to weights.

    Args:
      key: PRNG key.
      weights: f32[n] non-negative sampling weights.
      counts: int32[L] exact number to keep in each layer, at most its alive entries.
      sizes: static layer sizes (sum n).
      alive: f32[n] current mask (None = all alive). A dead entry is never drawn, whatever the
        ties; alive zero-weight entries are drawn (uniformly) only when a layer's count
        exceeds its positive-weight entries.
    Returns:
      f32[n] binary mask with exactly counts[l] ones in layer l.
    """
    alive = jnp.ones(weights.shape, jnp.bool_) if alive is None else alive != 0
    return keep_k_smallest_per_layer(_race_keys(key, weights, alive), tuple(sizes), counts)


def layerwise_sketch_mask(key: jax.Array, weights: jax.Array, counts: jax.Array,
                          sizes: Sequence[int], alive: jax.Array | None = None) -> jax.Array:
    """Algorithm 1 inside each layer with s_l = counts[l] draws (with replacement).

    The number of draws is dynamic, so each layer draws its maximum (its size) and keeps the
    first counts[l] draws: the kept draws are i.i.d. from the layer's distribution. A layer
    whose alive weights all have weight 0 samples its alive entries uniformly; dead entries
    (alive = 0) are never drawn.

    Returns:
      f32[n], values count_i / (s_l p_i) in layer l (p normalised within the layer).
    """
    alive = jnp.ones(weights.shape, jnp.float32) if alive is None else (alive != 0).astype(
        jnp.float32)
    parts = []
    for l, ((a, b), layer_key) in enumerate(zip(_segments(sizes),
                                                jax.random.split(key, len(sizes)))):
        w = jnp.where(alive[a:b] > 0, weights[a:b], 0.0)
        w = jnp.where(jnp.sum(w) > 0, w, alive[a:b])
        s_l = counts[l]
        idx = sample_indices(layer_key, w, b - a)
        used = jnp.arange(b - a) < s_l
        c = jnp.zeros((b - a,), jnp.float32).at[idx].add(used.astype(jnp.float32))
        p = w / jnp.maximum(jnp.sum(w), jnp.finfo(jnp.float32).tiny)
        parts.append(jnp.where(c > 0, c / (jnp.maximum(s_l, 1) * jnp.where(p > 0, p, 1.0)),
                               0.0))
    return jnp.concatenate(parts)


def signed_sampling_weights(scores: jax.Array, sizes: Sequence[int], rule: str,
                            alive: jax.Array | None = None) -> jax.Array:
    """Sampling weights for scores that can be negative (GraSP, random), per layer.

    Args:
      scores: f32[n].
      sizes: static per-layer sizes.
      rule: "positive": max(score, 0), proportional to the score wherever it can be a
        probability (`layerwise_sample` draws a weight of negative score, uniformly, only when
        a layer needs more than its positive ones); "shift": score - min(alive score in the
        layer); "rank": the score's rank among the layer's alive weights, 1 (lowest) .. n_l
        (ties by position).
      alive: f32[n] current mask (None = all alive); dead entries do not set the shift's
        origin or take a rank (the caller gives them weight 0).
    Returns:
      f32[n] weights, non-negative on the alive entries.
    """
    live = jnp.ones(scores.shape, jnp.bool_) if alive is None else alive != 0
    if rule == "positive":
        return jnp.maximum(scores, 0.0)
    if rule == "shift":
        return jnp.concatenate([scores[a:b] - jnp.min(jnp.where(live[a:b], scores[a:b], jnp.inf))
                                for a, b in _segments(sizes)])
    if rule == "rank":
        return jnp.concatenate([
            (jnp.argsort(jnp.argsort(jnp.where(live[a:b], scores[a:b], -jnp.inf)))
             + 1 - jnp.sum(~live[a:b])).astype(jnp.float32) for a, b in _segments(sizes)])
    raise ValueError(f"unknown signed-score weighting {rule!r}; valid: "
                     f"{', '.join(SIGNED_WEIGHTINGS)}")


# ----------------------------------------------------------------------------------------
# Pytree entry point used by the pruning loop.

@functools.partial(jax.jit, static_argnames=("selection", "sizes", "num_draws",
                                             "replacement", "signed_weighting"))
def select_flat(scores: jax.Array, alive: jax.Array, kept: jax.Array, key: jax.Array, *,
                selection: str, sizes: tuple[int, ...], num_draws: int | None = None,
                replacement: bool = False, signed_weighting: str | None = None,
                layer_counts: jax.Array | None = None) -> jax.Array:
    """One selection over a flat score vector.

    With `layer_counts` (a per-layer distribution: uniform, ERK) every selection works inside
    each layer's budget: `threshold` keeps exactly the layer's count of its highest scores,
    `layerwise_sample` draws that many without replacement, `sketch` (and `layerwise_sample`
    with replacement) runs Algorithm 1 in each layer with s_l = the layer's count.

    Args:
      scores: f32[n] (higher = keep).
      alive: f32[n], non-zero where the current mask keeps the weight; pruned weights are
        never revived (their score is treated as below every other, their weight as 0).
      kept: int scalar, weights kept by the global threshold (`counts.kept_count`); for
        `layerwise_sample` it fixes the per-layer counts. Unused by `sketch`.
      key: PRNG key (unused by `threshold`).
      selection: "threshold" | "layerwise_sample" | "sketch".
      sizes: static per-layer sizes.
      num_draws: s of Algorithm 1 (static); required by `sketch`, unused otherwise.
      replacement: `layerwise_sample` with replacement (Algorithm 1 per layer).
      signed_weighting: None for scores that are never negative (sampled in proportion to
        the score); for signed scores the `signed_sampling_weights` rule.
      layer_counts: int32[L], each layer's kept count (clipped to its alive entries: a pruned
        weight is never revived); None = the global allocation (`kept`).
    Returns:
      f32[n] mask (binary, or Algorithm 1 values for the with-replacement rules).
    """
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; valid: {', '.join(SELECTIONS)}")
    alive = alive != 0
    ranked = jnp.where(alive, scores, -jnp.inf)
    if layer_counts is not None:
        return _select_per_layer(scores, ranked, alive, layer_counts, key, selection, sizes,
                                 replacement, signed_weighting)
    if selection == "threshold":
        return threshold_mask(ranked, kept, alive)
    weights = _sampling_weights(scores, alive, sizes, signed_weighting)
    if selection == "sketch":
        if num_draws is None or num_draws < 1:
            raise ValueError(f"selection 'sketch' needs num_draws >= 1 (s of Algorithm 1), "
                             f"got {num_draws!r}")
        # All alive scores zero: draw among the alive weights uniformly, never a dead one.
        weights = jnp.where(jnp.sum(weights) > 0, weights, alive.astype(jnp.float32))
        return sketch_mask(key, weights, num_draws)
    counts = _segment_sums(threshold_mask(ranked, kept, alive) != 0, sizes)
    if replacement:
        return layerwise_sketch_mask(key, weights, counts, sizes, alive)
    return layerwise_sample_mask(key, weights, counts, sizes, alive)


def _sampling_weights(scores, alive, sizes, signed_weighting) -> jax.Array:
    """What the randomized selections draw in proportion to: the scores (or the signed rule's
    weights), never negative, 0 for a dead weight."""
    weights = (scores if signed_weighting is None
               else signed_sampling_weights(scores, sizes, signed_weighting, alive))
    return jnp.where(alive, jnp.maximum(weights, 0.0), 0.0)


def _select_per_layer(scores, ranked, alive, layer_counts, key, selection, sizes, replacement,
                      signed_weighting) -> jax.Array:
    """`select_flat` inside per-layer budgets."""
    counts = jnp.minimum(jnp.asarray(layer_counts, jnp.int32), _segment_sums(alive, sizes))
    if selection == "threshold":      # the highest scores first; a dead weight's key is +inf
        return keep_k_smallest_per_layer(-ranked, sizes, counts)
    weights = _sampling_weights(scores, alive, sizes, signed_weighting)
    if selection == "sketch" or replacement:
        return layerwise_sketch_mask(key, weights, counts, sizes, alive)
    return layerwise_sample_mask(key, weights, counts, sizes, alive)


def select(scores: Mapping, mask: Mapping, kept: int, key: jax.Array, *,
           selection: str = "threshold", replacement: bool = False,
           signed_weighting: str | None = None) -> dict:
    """Pytree form of `select_flat` over the prunable leaves.

    Args:
      scores, mask: trees over the prunable leaves (mask: the current one; pruned entries 0).
      kept: the number of weights to keep (`counts.kept_count`); for `sketch` it is s, the
        number of draws of Algorithm 1.
      key, selection, replacement, signed_weighting: as `select_flat`.
    Returns:
      the new mask tree.
    """
    flat = select_flat(trees.concat(scores), trees.concat(mask), jnp.int32(kept), key,
                       selection=selection, sizes=trees.sizes(scores),
                       num_draws=int(kept) if selection == "sketch" else None,
                       replacement=replacement, signed_weighting=signed_weighting)
    return trees.split(flat, scores)
