"""Fig. 2's shuffled masks: uniform subsets of the right count by every path (sort, first
distinct draws, their complement), the batched norms equal to the masks they stand for, and
the norms' moments equal to the closed form of sampling without replacement."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sketchjax.experiments import shuffles
from sketchjax.experiments.shuffles import random_mask_norms, shuffled_mask, shuffled_masks

M = 3000
# kept count -> the path it takes: first distinct draws (2%, 50% kept), their complement (98%).
PATHS = {60: "first distinct", 1500: "first distinct", 2940: "complement"}


def test_shuffled_mask_keeps_the_count_and_spreads_uniformly():
    mask = jnp.zeros(50).at[:7].set(1.0)
    masks = np.asarray(jax.vmap(lambda k: shuffled_mask(k, mask))(
        jax.random.split(jax.random.key(0), 20_000)))
    assert np.all(masks.sum(1) == 7) and set(np.unique(masks)) == {0.0, 1.0}
    freq = masks.mean(0)                          # each position kept with probability 7/50
    np.testing.assert_allclose(freq, 7 / 50, atol=4 * np.sqrt(0.14 * 0.86 / 20_000))
    assert np.all(np.asarray(shuffled_mask(jax.random.key(1), jnp.zeros(9))) == 0)


@pytest.mark.parametrize("k", sorted(PATHS))
def test_every_path_draws_uniform_subsets_of_the_count(k):
    mask = jnp.zeros(M).at[:k].set(1.0)
    assert shuffles._plan(mask)[2] == (PATHS[k] == "complement")
    masks = shuffled_masks(jax.random.split(jax.random.key(k), 4000), mask)
    assert np.all(masks.sum(1) == k) and set(np.unique(masks)) <= {0.0, 1.0}
    # Every position is kept with probability k / M: the mean over positions of the squared
    # deviation of its frequency matches the binomial variance (a bias to some positions, or to
    # the mask's own, would inflate it).
    p = k / M
    freq = masks.mean(0)
    assert abs(freq.mean() - p) < 1e-9
    ratio = np.mean((freq - p) ** 2) / (p * (1 - p) / 4000)
    assert 0.9 < ratio < 1.1
    assert abs(freq[:k].mean() - p) < 4 * math.sqrt(p * (1 - p) / (4000 * k))


@pytest.mark.parametrize("k", sorted(PATHS))
def test_the_batched_norms_are_the_norms_of_the_masks_drawn(k):
    rng = np.random.default_rng(k)
    theta = jnp.asarray(rng.standard_normal(M), jnp.float32)
    mask = jnp.asarray(rng.permutation(np.arange(M) < k), jnp.float32)
    keys = jax.random.split(jax.random.key(5), 600)     # more than one batch of 250
    norms = random_mask_norms(keys, mask, theta)
    masks = shuffled_masks(keys[:20], mask)
    assert norms.shape == (600,)
    np.testing.assert_allclose(norms[:20], np.linalg.norm(np.asarray(theta) * masks, axis=1),
                               rtol=2e-4)


@pytest.mark.parametrize("k", sorted(PATHS))
def test_norm_moments_match_sampling_without_replacement(k):
    rng = np.random.default_rng(100 + k)
    theta = rng.standard_normal(M).astype(np.float32) * rng.uniform(0.2, 2.0, M)
    v = theta.astype(np.float64) ** 2
    mask = jnp.asarray(np.arange(M) < k, jnp.float32)
    n = 10_000
    sums = random_mask_norms(jax.random.split(jax.random.key(9), n), mask,
                             jnp.asarray(theta)).astype(np.float64) ** 2
    mean = k / M * v.sum()
    var = k * (M - k) / (M * (M - 1)) * np.sum((v - v.mean()) ** 2)
    assert abs(sums.mean() - mean) < 4 * math.sqrt(var / n)
    assert abs(sums.var(ddof=1) / var - 1) < 4 * math.sqrt(2 / n) + 0.02   # + kurtosis slack


def test_nothing_or_everything_kept_takes_the_sort_and_gives_the_exact_norms():
    theta = jnp.arange(1.0, 7.0)
    keys = jax.random.split(jax.random.key(0), 3)
    np.testing.assert_allclose(random_mask_norms(keys, jnp.zeros(6), theta), 0.0)
    np.testing.assert_allclose(random_mask_norms(keys, jnp.ones(6), theta),
                               np.linalg.norm(np.arange(1.0, 7.0)), rtol=1e-6)


def test_draws_leave_a_ten_sigma_margin():
    for m, s in ((235_200, 5_400), (3000, 60), (30_000, 5_999)):
        d = shuffles.draws_for(m, s)
        expected = m * (1 - (1 - 1 / m) ** d)
        assert expected - 10 * math.sqrt(expected) >= s and d % 1024 == 0
