"""sketchjax.theory: closed forms vs Monte Carlo (through Algorithm 1), bounds, and the paper's
statements that do not hold as printed. Small instances; every tolerance is stated."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from sketchjax import theory as th
from sketchjax.sketch import sketch_mask

Z = 4.0  # Monte Carlo agreement: within 4 standard errors


def _instance(seed, d=30, n=12, spread=0.5):
    """X with unequal rows (so p0 is far from uniform), w0, and a w* that moved from w0."""
    k = jax.random.split(jax.random.key(seed), 5)
    x = th.gaussian_data(k[0], d, n) * jnp.exp(spread * jax.random.normal(k[1], (d, 1)))
    w0 = jax.random.normal(k[2], (d,)) / math.sqrt(d)
    w_star = w0 + 0.5 * jax.random.normal(k[3], (d,)) / math.sqrt(d)
    x_tilde = th.gaussian_data(k[4], d, n)
    return x, x_tilde, w0, w_star


def _assert_within(mc_values, exact, z=Z):
    mean, se = th.mean_and_stderr(jnp.asarray(mc_values))
    assert abs(float(mean) - float(exact)) <= z * float(se), (float(mean), float(se), exact)


def test_p0_is_eq2():
    x, _, w0, _ = _instance(0)
    p = th.p0(x, w0)
    expected = np.linalg.norm(np.asarray(x), axis=1) * np.abs(np.asarray(w0))
    np.testing.assert_allclose(np.asarray(p), expected / expected.sum(), rtol=1e-5)
    assert abs(float(p.sum()) - 1.0) < 1e-5


def test_monte_carlo_draws_with_the_library_algorithm_1():
    x, _, w0, _ = _instance(1)
    p = th.p0(x, w0)
    key = jax.random.key(3)
    masks = th.sample_masks(key, p, 7, 5)
    expected = jnp.stack([sketch_mask(k, p, 7) for k in jax.random.split(key, 5)])
    np.testing.assert_array_equal(np.asarray(masks), np.asarray(expected))
    errs = th.monte_carlo_errors(key, x, w0, p, 7, 5, batch_size=2)
    np.testing.assert_allclose(np.asarray(errs),
                               [float(th.masked_error(x, w0, m)) for m in expected], rtol=1e-5)


def test_b1_unbiased_every_coordinate():
    x, _, w0, w_star = _instance(2)
    feats = th.monte_carlo_features(jax.random.key(0), x, w_star, th.p0(x, w0), 4, 20000)
    mean, se = th.mean_and_stderr(feats)
    z = np.abs(np.asarray((mean - x.T @ w_star) / se))
    assert z.max() <= 4.5, z.max()   # 12 coordinates, so a little above the per-coordinate 4


def test_b2_lemma43_exact_form_vs_monte_carlo_and_bound():
    # p from other data X~ and w0 (Lemma 4.3), applied to X and w*.
    x, x_tilde, w0, w_star = _instance(3)
    p = th.p0(x_tilde, w0)
    for s in (3, 40):
        exact = th.expected_error(x, w_star, p, s)
        _assert_within(th.monte_carlo_errors(jax.random.key(s), x, w_star, p, s, 20000), exact)
        bound = th.lemma43_bound(x, x_tilde, w0, w_star, s)
        assert float(exact) <= float(bound)
        # the bound is the exact form without its "- (1/s)||X^T w*||^2" term
        np.testing.assert_allclose(float(bound) - float(exact),
                                   float(jnp.sum((x.T @ w_star) ** 2)) / s, rtol=1e-4)


def test_lemma41_closed_form_vs_monte_carlo():
    x, _, w0, _ = _instance(4)
    p = th.p0(x, w0)
    for s in (3, 40):
        exact = th.lemma41_expected_error(x, w0, s)
        np.testing.assert_allclose(float(exact), float(th.expected_error(x, w0, p, s)), rtol=1e-5)
        _assert_within(th.monte_carlo_errors(jax.random.key(10 + s), x, w0, p, s, 20000), exact)


def test_lemma43_bound_holds_on_random_instances():
    for seed in range(20):
        x, x_tilde, w0, w_star = _instance(100 + seed, d=15, n=6, spread=1.0)
        p = th.p0(x_tilde, w0)
        assert float(th.expected_error(x, w_star, p, 5)) <= float(
            th.lemma43_bound(x, x_tilde, w0, w_star, 5)) * (1 + 1e-5)


def test_expected_error_is_inf_when_p_misses_mass():
    x, _, w0, w_star = _instance(5)
    p = th.p0(x, w0).at[0].set(0.0)
    assert math.isinf(float(th.expected_error(x, w_star, p, 4)))


def _ex_monte_carlo(w0, w_star, n, s, num_x, masks_per_x, uniform=False, seed=0):
    """Monte Carlo E_X E_m E(m) over X ~ N(0, 1/n): per-X means, via the library's sampler."""
    d = w0.shape[0]

    def per_x(k):
        kx, km = jax.random.split(k)
        x = th.gaussian_data(kx, d, n)
        probs = th.uniform_probs(d) if uniform else th.p0(x, w0)
        return jnp.mean(th.monte_carlo_errors(km, x, w_star, probs, s, masks_per_x))
    return jax.lax.map(per_x, jax.random.split(jax.random.key(seed), num_x))


def test_chi_mean_squared():
    n = 7
    assert th.chi_mean_squared(n) == pytest.approx(stats.chi(df=n).mean() ** 2 / n, rel=1e-9)
    assert th.chi_mean_squared(128) == pytest.approx(1 - 1 / (2 * 128), abs=1e-4)


def test_lemma42_exact_form_and_the_printed_bound_fails():
    d, n, s = 12, 8, 3
    w0 = jax.random.normal(jax.random.key(7), (d,)) / math.sqrt(d)
    exact = float(th.lemma42_expected_error(w0, s, n))
    _assert_within(_ex_monte_carlo(w0, w0, n, s, 400, 64), exact)
    assert exact <= float(jnp.sum(jnp.abs(w0)) ** 2 - jnp.sum(w0 ** 2)) / s
    # Lemma 4.2 as printed (||w0||^2/s) is below the true value once w0 has >= 2 non-zeros.
    assert exact > 2 * float(th.lemma42_bound(w0, s))
    # ... and holds (with equality to 0) for a 1-sparse w0, the only case its proof covers.
    one_hot = jnp.zeros(d).at[3].set(1.0)
    assert float(th.lemma42_expected_error(one_hot, s, n)) == pytest.approx(0.0, abs=1e-6)


def test_theorem44_exact_form_vs_monte_carlo_and_corrected_bound():
    d, n, s = 12, 8, 3
    k = jax.random.split(jax.random.key(8), 2)
    w0 = jax.random.normal(k[0], (d,)) / math.sqrt(d)
    w_star = w0 + 0.7 * jax.random.normal(k[1], (d,)) / math.sqrt(d)
    exact = float(th.theorem44_expected_error(w0, w_star, s, n))
    _assert_within(_ex_monte_carlo(w0, w_star, n, s, 400, 64, seed=1), exact)
    for seed in range(20):
        kk = jax.random.split(jax.random.key(200 + seed), 3)
        w0 = jax.random.normal(kk[0], (d,))
        w_star = w0 + jnp.exp(2 * jax.random.normal(kk[2], ())) * jax.random.normal(kk[1], (d,))
        assert float(th.theorem44_expected_error(w0, w_star, s, n)) <= float(
            th.theorem44_corrected_bound(w0, w_star, s)) * (1 + 1e-5)


def test_theorem44_printed_bound_fails_for_a_change_on_the_smallest_weight():
    # The proof's step sum_k (w*_k - w0_k)^2/|w0_k| <= ||w* - w0||^2/||w0||_inf is reversed:
    # a change concentrated where |w0_k| is small breaks the printed bound.
    d, n, s = 12, 8, 3
    w0 = jnp.linspace(0.05, 1.0, d)
    w_star = w0.at[0].add(3.0)
    exact = float(th.theorem44_expected_error(w0, w_star, s, n))
    assert exact > 2 * float(th.theorem44_bound(w0, w_star, s))
    assert exact <= float(th.theorem44_corrected_bound(w0, w_star, s))
    # and a small change keeps it (the bound is then close to ||w0||_1^2 / s)
    assert float(th.theorem44_expected_error(w0, w0 + 1e-3, s, n)) <= float(
        th.theorem44_bound(w0, w0 + 1e-3, s))


def test_lemma45_uniform_exact_form_bound_and_identity():
    d, n, s = 12, 8, 3
    x, _, w0, w_star = _instance(9, d=d, n=n, spread=0.0)
    uni = th.uniform_probs(d)
    # given X: B.2 with p = 1/d, i.e. (d/s) sum_k ||X_(k)||^2 w_k^2 - (1/s)||X^T w||^2
    exact_x = float(th.expected_error(x, w_star, uni, s))
    np.testing.assert_allclose(
        exact_x, float(d / s * jnp.sum(th.row_norms(x) ** 2 * w_star ** 2)
                       - jnp.sum((x.T @ w_star) ** 2) / s), rtol=1e-5)
    masks = th.sample_masks(jax.random.key(0), uni, s, 4)
    assert set(np.unique(np.asarray(masks)).round(5)) <= {0.0, round(d / s, 5),
                                                           round(2 * d / s, 5),
                                                           round(3 * d / s, 5)}
    _assert_within(th.monte_carlo_errors(jax.random.key(1), x, w_star, uni, s, 20000), exact_x)
    # over X: ((d-1)/s)||w*||^2 <= (d/s)||w*||^2 = the expanded form
    exact = float(th.lemma45_expected_error(w_star, s))
    _assert_within(_ex_monte_carlo(w0, w_star, n, s, 400, 64, uniform=True, seed=2), exact)
    assert exact <= float(th.lemma45_bound(w_star, s))
    np.testing.assert_allclose(float(th.lemma45_bound_expanded(w0, w_star, s)),
                               float(th.lemma45_bound(w_star, s)), rtol=1e-5)


def test_factor_d_between_lemma45_and_theorem44():
    d, s = 400, 10
    # The ratio of the bounds at w* = w0 is d ||w0||^2 / ||w0||_1^2, in [1, d]. It is ~d only
    # when w0 is dominated by one entry ...
    w0 = jnp.full((d,), 1e-4).at[0].set(1.0)
    ratio = float(th.lemma45_bound(w0, s) / th.theorem44_bound(w0, w0, s))
    assert 0.9 * d <= ratio <= d
    # ... and the factor d is exactly the one against Lemma 4.2's (false) bound ...
    g = jax.random.normal(jax.random.key(0), (d,))
    assert float(th.lemma45_bound(g, s) / th.lemma42_bound(g, s)) == pytest.approx(d)
    # ... while for Gaussian w0 ||w0||_1^2 ~ (2/pi) d ||w0||^2 carries the d too: ratio ~ pi/2.
    ratio = float(th.lemma45_bound(g, s) / th.theorem44_bound(g, g, s))
    assert ratio == pytest.approx(math.pi / 2, rel=0.1)


def test_top_s_mask():
    scores = jnp.array([0.1, 5.0, 3.0, 3.0, -1.0, 4.0])
    np.testing.assert_array_equal(np.asarray(th.top_s_mask(scores, 3)), [0, 1, 1, 0, 0, 1])
    assert float(th.top_s_mask(scores, 10).sum()) == 6.0


def test_chi_input_law():
    from sketchjax.inputs import chi_input
    n, num = 128, 20000
    sample = np.asarray(chi_input(jax.random.key(0), (num,), n=n), np.float64).ravel()
    assert stats.kstest(sample, stats.chi(df=n, scale=1 / math.sqrt(n)).cdf).pvalue > 1e-3
    rows = np.asarray(th.row_norms(th.gaussian_data(jax.random.key(1), num, n)), np.float64)
    assert stats.ks_2samp(sample, rows).pvalue > 1e-3
    sq = sample ** 2   # E ||X_(i)||^2 = 1
    assert abs(sq.mean() - 1.0) <= Z * sq.std(ddof=1) / math.sqrt(num)
    assert abs(sample.mean() - math.sqrt(th.chi_mean_squared(n))) <= Z * sample.std(
        ddof=1) / math.sqrt(num)
