"""Selection rules: exact k-th value, hard threshold, Algorithm 1, layerwise sampling."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sketchjax import sketch, trees
from sketchjax.counts import kept_count


def _tied(n, seed):
    """Half exact zeros (pruned weights), the rest |N(0,1)| with some repeated values."""
    rng = np.random.default_rng(seed)
    x = np.abs(rng.standard_normal(n)).astype(np.float32)
    x[rng.random(n) < 0.5] = 0.0
    x[rng.random(n) < 0.05] = 1.5
    return x


@pytest.mark.parametrize("n", [1000, 200_000])
def test_kth_smallest_equals_sort(n):
    x = _tied(n, n)
    ref = np.sort(x)
    kth = jax.jit(sketch.kth_smallest)
    for k in [1, 2, n // 3, n // 2, n // 2 + 1, (9 * n) // 10, n - 1, n]:
        assert float(kth(jnp.asarray(x), k)) == ref[k - 1], k


def test_kth_smallest_handles_infinities_and_ties_at_lower_bracket():
    n = 300_000
    x = np.full(n, 0.0, np.float32)        # 90% exact ties: the bracket's lower end is a tie
    x[: n // 10] = np.linspace(1, 2, n // 10)
    x[:100] = np.inf
    x[100:200] = -np.inf
    ref = np.sort(x)
    kth = jax.jit(sketch.kth_smallest)
    for k in [1, 150, 1000, n // 2, (9 * n) // 10, (9 * n) // 10 + 1, n - 50, n]:
        assert float(kth(jnp.asarray(x), k)) == ref[k - 1], k


@pytest.mark.parametrize("density", [0.1, 0.05, 0.02, 0.5, 1.0])
def test_threshold_keeps_reference_count_on_distinct_scores(density):
    n = 100_003
    x = jax.random.permutation(jax.random.key(0), jnp.arange(n, dtype=jnp.float32))
    kept = kept_count(n, density)
    assert kept == n - int((1 - density) * n)                      # the reference's rule
    mask = np.asarray(jax.jit(sketch.threshold_mask)(x, kept))
    assert mask.sum() == kept
    # exactly the largest `kept` scores are kept
    assert np.all(np.asarray(x)[mask == 1] >= n - kept)


def test_threshold_prunes_ties_at_the_threshold():
    scores = jnp.array([0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 4.0])
    mask = np.asarray(sketch.threshold_mask(scores, 4))     # k = 4 pruned: threshold = 1.0
    np.testing.assert_array_equal(mask, [0, 0, 0, 0, 1, 1, 1, 1])
    mask = np.asarray(sketch.threshold_mask(scores, 6))     # k = 2: threshold = 0, ties pruned
    np.testing.assert_array_equal(mask, [0, 0, 0, 1, 1, 1, 1, 1])
    mask = np.asarray(sketch.threshold_mask(scores, 8))     # k = 0: unchanged
    np.testing.assert_array_equal(mask, np.ones(8))


def test_threshold_with_nothing_to_prune_leaves_the_mask_unchanged():
    # k < 1 used to return all ones, reviving every pruned weight.
    alive = jnp.array([1.0, 0.0, 1.0, 0.0, 1.0])
    ranked = jnp.where(alive != 0, jnp.array([0.5, 0.1, 0.3, 0.9, 0.2]), -jnp.inf)
    np.testing.assert_array_equal(sketch.threshold_mask(ranked, 5, alive), alive)
    got = sketch.select_flat(jnp.array([0.5, 0.1, 0.3, 0.9, 0.2]), alive, jnp.int32(5),
                             jax.random.key(0), selection="threshold", sizes=(5,))
    np.testing.assert_array_equal(got, alive)


def test_sample_indices_never_draws_zero_weight_and_matches_law():
    rng = np.random.default_rng(1)
    w = rng.random(1000).astype(np.float32) ** 3
    w[rng.random(1000) < 0.2] = 0.0
    w[-37:] = 0.0                                   # a zero tail inside the last row
    draws = 400_000
    idx = np.asarray(jax.jit(sketch.sample_indices, static_argnums=(2, 3))(
        jax.random.key(2), jnp.asarray(w), draws, 64))
    counts = np.bincount(idx, minlength=1000)
    assert counts[w == 0].sum() == 0
    expected = draws * w / w.sum()
    big = expected > 50
    z = (counts[big] - expected[big]) / np.sqrt(expected[big])
    assert np.max(np.abs(z)) < 5.0               # 5 sigma over ~700 bins
    assert abs(np.mean(z ** 2) - 1.0) < 0.15     # chi-square per degree of freedom


def test_algorithm1_is_unbiased_over_10000_vmapped_masks():
    rng = np.random.default_rng(3)
    n, s, draws = 600, 150, 10_000
    p = (rng.random(n) ** 2).astype(np.float32)
    p[rng.random(n) < 0.1] = 0.0
    keys = jax.random.split(jax.random.key(4), draws)
    sketch_many = jax.jit(jax.vmap(lambda k: sketch.sketch_mask(k, jnp.asarray(p), s, 64)))
    masks = np.asarray(sketch_many(keys))
    counts = np.asarray(jax.vmap(lambda k: sketch.sketch_counts(k, jnp.asarray(p), s, 64))(keys))
    assert np.all(counts.sum(axis=1) == s)
    assert np.all((masks != 0).sum(axis=1) <= s)
    assert np.all(masks[:, p == 0] == 0)
    pn = p / p.sum()
    # values are count / (s p): check them against the counts
    np.testing.assert_allclose(masks[:, p > 0], counts[:, p > 0] / (s * pn[p > 0]), rtol=1e-5)
    # count_i ~ Binomial(s, p_i), so Var(m_i) = (1 - p_i) / (s p_i): the exact standard error
    live = pn[p > 0]
    mean = masks[:, p > 0].mean(axis=0)
    stderr = np.sqrt((1 - live) / (s * live) / draws)
    assert np.all(np.abs(mean - 1.0) <= 4 * stderr)
    sample_stderr = masks[:, p > 0].std(axis=0, ddof=1) / np.sqrt(draws)
    common = live > 1e-4                                    # drawn often enough to estimate
    np.testing.assert_allclose(sample_stderr[common], stderr[common], rtol=0.1)


def test_algorithm1_on_a_large_vector_draws_s_and_is_deterministic():
    n = 3_000_000
    p = jax.random.uniform(jax.random.key(5), (n,))
    f = jax.jit(sketch.sketch_mask, static_argnums=2)
    m1 = np.asarray(f(jax.random.key(6), p, n // 10))
    m2 = np.asarray(f(jax.random.key(6), p, n // 10))
    np.testing.assert_array_equal(m1, m2)
    # E||m||_0 = sum_i 1 - (1 - p_i)^s; for near-uniform p and s = N/10 this is ~0.0952 N
    expected = np.sum(1 - (1 - np.asarray(p) / float(jnp.sum(p))) ** (n // 10))
    assert abs((m1 != 0).sum() - expected) < 5 * np.sqrt(expected)
    assert abs(np.sum(m1 * np.asarray(p) / float(jnp.sum(p))) - 1.0) < 0.01   # sum_i p_i m_i ~ 1


def test_layerwise_sample_keeps_the_threshold_counts_per_layer():
    rng = np.random.default_rng(7)
    sizes = (5000, 120_000, 300, 70_000)
    scores = np.abs(rng.standard_normal(sum(sizes))).astype(np.float32)
    scores[rng.random(sum(scores.shape)) < 0.3] = 0.0          # already-pruned weights
    alive = (scores > 0).astype(np.float32)
    kept = kept_count(sum(sizes), 0.2)
    thr = np.asarray(sketch.select_flat(jnp.asarray(scores), jnp.asarray(alive), kept,
                                        jax.random.key(0), selection="threshold", sizes=sizes))
    lw = np.asarray(sketch.select_flat(jnp.asarray(scores), jnp.asarray(alive), kept,
                                       jax.random.key(8), selection="layerwise_sample",
                                       sizes=sizes))
    assert thr.sum() == kept
    assert set(np.unique(lw)) <= {0.0, 1.0}
    offsets = np.cumsum((0,) + sizes)
    for a, b in zip(offsets[:-1], offsets[1:]):
        assert lw[a:b].sum() == thr[a:b].sum()
    assert np.all(lw[alive == 0] == 0)                           # nothing revived
    assert not np.array_equal(lw, thr)                           # it is random


def test_layerwise_sample_is_sampling_proportional_to_score():
    # With one weight kept per layer, P(keep i) = w_i / sum(w) exactly.
    w = jnp.array([1.0, 2.0, 3.0, 0.0, 4.0, 1.0, 1.0, 2.0])
    sizes = (5, 3)
    keys = jax.random.split(jax.random.key(9), 40_000)
    masks = np.asarray(jax.jit(jax.vmap(lambda k: sketch.layerwise_sample_mask(
        k, w, jnp.array([1, 1]), sizes)))(keys))
    np.testing.assert_array_equal(masks[:, :5].sum(1), 1)
    freq = masks.mean(0)
    expected = np.array([1, 2, 3, 0, 4, 1, 1, 2]) / np.array([10] * 5 + [4] * 3)
    np.testing.assert_allclose(freq, expected, atol=4 * np.sqrt(0.25 / 40_000))


def test_layerwise_sample_breaks_ties_to_exact_counts():
    w = jnp.ones(1000).at[500:].set(0.0)
    mask = np.asarray(sketch.layerwise_sample_mask(jax.random.key(0), w, jnp.array([7, 0]),
                                                   (400, 600)))
    assert mask[:400].sum() == 7 and mask[400:].sum() == 0


def test_layerwise_sample_never_draws_a_dead_weight_under_ties():
    # Regression: the layer's count includes alive weights of score 0; dead and alive
    # zero-score weights used to tie at race value inf and the tie went by position, reviving
    # the dead weights at positions 0 and 1.
    alive = jnp.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    scores = jnp.array([0.0, 0.0, 0.0, 0.0, 3.0, 4.0])
    for seed in range(50):
        m = np.asarray(sketch.select_flat(scores, alive, jnp.int32(kept_count(6, 0.7)),
                                          jax.random.key(seed), selection="layerwise_sample",
                                          sizes=(6,)))
        assert m.sum() == 4 and np.all(m[:2] == 0), m
    # Tiny positive weights (whose E / w would overflow float32) still rank before zero ones.
    w = jnp.array([1e-42, 0.0, 0.0, 1e-41])
    m = sketch.layerwise_sample_mask(jax.random.key(1), w, jnp.array([2]), (4,),
                                     alive=jnp.ones(4))
    np.testing.assert_array_equal(m, [1, 0, 0, 1])


def test_layerwise_with_replacement_never_draws_a_dead_weight_in_a_zero_score_layer():
    # A layer whose alive weights all score 0 used to be sampled uniformly over all its
    # entries, dead ones included; it now samples its alive entries uniformly.
    alive = jnp.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    weights = jnp.array([1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    sizes = (3, 7)
    keys = jax.random.split(jax.random.key(3), 2000)
    masks = np.asarray(jax.vmap(lambda k: sketch.layerwise_sketch_mask(
        k, weights, jnp.array([2, 2]), sizes, alive))(keys))
    assert np.all(masks[:, 3:8] == 0)
    drawn = (masks[:, 8:] != 0).mean(0)
    assert np.all(drawn > 0.5)                        # both alive entries get drawn
    # values count / (s p) with p = 1/2 uniform over the 2 alive entries: mean 1 each
    np.testing.assert_allclose(masks[:, 8:].mean(0), 1.0, atol=0.06)


def test_sketch_needs_its_number_of_draws():
    with pytest.raises(ValueError, match="num_draws"):
        sketch.select_flat(jnp.ones(4), jnp.ones(4), jnp.int32(2), jax.random.key(0),
                           selection="sketch", sizes=(4,))
    # The pytree form draws s = the count it is given.
    m = sketch.select({"k": jnp.arange(1.0, 41.0)}, {"k": jnp.ones(40)}, 10, jax.random.key(0),
                      selection="sketch")
    values = np.asarray(m["k"])
    p = np.arange(1.0, 41.0) / np.arange(1.0, 41.0).sum()
    np.testing.assert_allclose(np.sum(values * p * 10), 10.0, rtol=1e-5)   # sum of counts = s


def test_layerwise_with_replacement_is_unbiased_per_layer():
    w = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 0.0, 3.0])
    sizes = (5, 3)
    keys = jax.random.split(jax.random.key(10), 20_000)
    masks = np.asarray(jax.jit(jax.vmap(lambda k: sketch.layerwise_sketch_mask(
        k, w, jnp.array([3, 2]), sizes)))(keys))
    assert np.all((masks[:, :5] != 0).sum(1) <= 3) and np.all((masks[:, 5:] != 0).sum(1) <= 2)
    live = np.asarray(w) > 0
    mean, se = masks.mean(0), masks.std(0, ddof=1) / np.sqrt(len(keys))
    assert np.all(np.abs(mean[live] - 1) <= 4 * se[live])
    assert np.all(masks[:, ~live] == 0)


def test_signed_scores_shift_rule_samples_with_layer_min_and_never_revives():
    scores = jnp.array([-3.0, -1.0, 2.0, 5.0, -2.0, 0.5])
    alive = jnp.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(sketch.signed_sampling_weights(scores, (4, 2), "shift"),
                               [0.0, 2.0, 5.0, 8.0, 0.0, 2.5])
    for seed in range(20):
        m = np.asarray(sketch.select_flat(scores, alive, jnp.int32(3), jax.random.key(seed),
                                          selection="sketch", sizes=(4, 2), num_draws=3,
                                          signed_weighting="shift"))
        assert m[3] == 0 and m[0] == 0 and m[4] == 0        # pruned or zero-weight: never


def test_pytree_select_equals_flat_numpy_oracle():
    params = {"b": {"kernel": jnp.zeros((30, 20))}, "a": {"kernel": jnp.zeros((3, 3, 4, 8)),
                                                          "bias": jnp.zeros(8)}}
    scores = trees.split(jax.random.uniform(jax.random.key(11), (888,)), trees.prunable(params))
    mask = sketch.select(scores, trees.ones_mask(params), kept_count(888, 0.25),
                         jax.random.key(0))
    flat_scores = np.concatenate([np.ravel(scores["a"]["kernel"]),
                                  np.ravel(scores["b"]["kernel"])])   # sorted path order
    k = int(0.75 * 888)
    oracle = (flat_scores > np.sort(flat_scores)[k - 1]).astype(np.float32)
    np.testing.assert_array_equal(trees.concat(mask), oracle)
    assert mask["a"]["kernel"].shape == (3, 3, 4, 8) and "bias" not in mask["a"]


def test_kth_smallest_per_layer_equals_per_segment_sort():
    sizes = (3, 700, 5000, 90_000, 250_000)
    x = np.concatenate([_tied(n, i) for i, n in enumerate(sizes)])
    x[10:20] = np.inf
    offsets = np.cumsum((0,) + sizes)
    kth = jax.jit(sketch.kth_smallest_per_layer, static_argnums=1)
    rng = np.random.default_rng(0)
    for trial in range(4):
        k = np.array([rng.integers(1, n + 1) for n in sizes], np.int32)
        if trial == 0:
            k = np.array(sizes, np.int32)                       # the largest of each
        got = np.asarray(kth(jnp.asarray(x), sizes, jnp.asarray(k)))
        expected = [np.sort(x[a:b])[kk - 1] for a, b, kk in zip(offsets[:-1], offsets[1:], k)]
        np.testing.assert_array_equal(got, expected)


def test_bracket_variance_is_never_negative_or_nan():
    # XLA may compute k / n as k * (1 / n): p can exceed 1 by an ulp when k = n. A negative
    # p (1 - p) made the bracket margin NaN and sent every layerwise round to the full sort.
    p = jnp.nextafter(jnp.float32(1.0), jnp.float32(2.0))
    assert float(sketch._bernoulli_variance(p)) == 0.0
    assert np.isfinite(float(jnp.sqrt(sketch._bernoulli_variance(p))))


def _check_kth_of_groups(groups, rng):
    sizes = np.array([len(g) for g in groups], np.int32)
    starts = np.cumsum(sizes) - sizes
    # Padded past 2 G m entries, so that the bracket level runs rather than one plain sort.
    pad = np.full(2 * len(groups) * sketch._GROUP_SAMPLE, np.inf)
    buf = np.concatenate(groups + [pad]).astype(np.float32)
    kth = jax.jit(sketch._kth_of_groups)
    for trial in range(3):
        k = np.array([rng.integers(1, max(n, 1) + 1) for n in sizes], np.int32)
        if trial == 0:
            k = np.maximum(sizes, 1)                             # the largest of each
        got = np.asarray(kth(jnp.asarray(buf), jnp.asarray(starts, jnp.int32),
                             jnp.asarray(sizes), jnp.asarray(k)))
        for g, (values, kk) in enumerate(zip(groups, k)):
            if len(values):
                assert got[g] == np.sort(values.astype(np.float32))[kk - 1], (trial, g)


def test_kth_of_groups_second_bracket_level_equals_per_group_sort():
    # The compacted buffer of kth_smallest_per_layer: contiguous groups, +inf after them.
    # Groups larger than the second-level sample are bracketed by a strided sample of
    # themselves; sorted and reversed groups are the orders a strided sample could be fooled by.
    rng = np.random.default_rng(3)
    m = sketch._GROUP_SAMPLE
    _check_kth_of_groups([rng.standard_normal(3 * m), np.zeros(0), rng.standard_normal(m - 5),
                          np.sort(rng.standard_normal(5 * m)),
                          np.sort(rng.standard_normal(2 * m))[::-1], np.ones(1)], rng)


def test_kth_of_groups_falls_back_to_the_sort_when_a_bracket_misses():
    # All-equal and coarsely tied groups put the answer at a bracket end: exact fallback.
    rng = np.random.default_rng(4)
    m = sketch._GROUP_SAMPLE
    _check_kth_of_groups([rng.standard_normal(3 * m), np.full(m + 7, 0.25),
                          np.round(rng.standard_normal(4 * m), 1)], rng)


def test_signed_weighting_rules_positive_and_rank():
    scores = jnp.array([-3.0, -1.0, 2.0, 5.0, -2.0, 0.5])
    np.testing.assert_allclose(sketch.signed_sampling_weights(scores, (4, 2), "positive"),
                               [0.0, 0.0, 2.0, 5.0, 0.0, 0.5])
    np.testing.assert_allclose(sketch.signed_sampling_weights(scores, (4, 2), "rank"),
                               [1.0, 2.0, 3.0, 4.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="weighting"):
        sketch.signed_sampling_weights(scores, (4, 2), "abs")
    # "positive": a negative score is drawn only once a layer needs more than its positives.
    alive = jnp.ones(6)
    for seed in range(20):
        m = np.asarray(sketch.select_flat(scores, alive, jnp.int32(3), jax.random.key(seed),
                                          selection="layerwise_sample", sizes=(4, 2),
                                          signed_weighting="positive"))
        # the threshold keeps 2.0, 5.0 (layer 0) and 0.5 (layer 1): counts 2 and 1
        assert list(m[:4]) == [0, 0, 1, 1] and list(m[4:]) == [0, 1]


def test_rank_weighting_draws_in_proportion_to_the_rank_monte_carlo():
    scores = jnp.array([-0.3, 7.0, -5.0, 0.1])          # ranks 2, 4, 1, 3
    counts = jnp.array([1], jnp.int32)
    weights = sketch.signed_sampling_weights(scores, (4,), "rank")
    keys = jax.random.split(jax.random.key(3), 8000)
    masks = np.asarray(jax.vmap(lambda k: sketch.layerwise_sample_mask(
        k, weights, counts, (4,)))(keys))
    p = np.array([2, 4, 1, 3]) / 10
    assert np.all(masks.sum(1) == 1)
    np.testing.assert_allclose(masks.mean(0), p, atol=4 * np.sqrt(p * (1 - p) / 8000).max())


def test_dead_weights_neither_set_the_shift_origin_nor_take_a_rank():
    scores = jnp.array([-9.0, -1.0, 2.0, 5.0])
    alive = jnp.array([0.0, 1.0, 1.0, 1.0])            # the -9 was pruned in an earlier round
    shift = np.asarray(sketch.signed_sampling_weights(scores, (4,), "shift", alive))
    rank = np.asarray(sketch.signed_sampling_weights(scores, (4,), "rank", alive))
    np.testing.assert_allclose(shift[1:], [0.0, 3.0, 6.0])
    np.testing.assert_allclose(rank[1:], [1.0, 2.0, 3.0])
