"""The linear-model theory of the paper: p0, exact expected errors, bounds, Monte Carlo.

Notation (paper, Sections 3-4 and Appendix B): X in R^{d x n} has the n examples as columns and
X_(k) (length n) as its k-th row; w0 is the weight vector at initialisation, w* the weights the
mask is applied to; a mask m comes from Algorithm 1 (`sketchjax.sketch.sketch_mask`) with s
draws; the error is E(m) = ||X^T w* - X^T (w* . m)||^2.

Three kinds of functions live here:

* the paper's statements, each named after its lemma and written to the letter of the paper
  (`lemma41_expected_error`, `lemma43_bound`, `lemma42_bound`, `theorem44_bound`,
  `lemma45_bound`, ...);
* exact expectations derived beside them (`expected_error`, `lemma42_expected_error`,
  `theorem44_expected_error`, ...), which is how the checks tell a loose bound from a wrong one;
* Monte Carlo estimators that draw masks with the library's own Algorithm 1, vmapped over keys.

Pure JAX; no neural-tangents, no TensorFlow.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from sketchjax.sketch import sketch_mask

__all__ = [
    "row_norms", "p0", "features", "masked_error", "expected_error", "uniform_probs",
    "lemma41_expected_error", "lemma43_bound", "lemma42_bound", "chi_mean_squared",
    "lemma42_expected_error", "theorem44_bound", "theorem44_corrected_bound",
    "theorem44_expected_error", "lemma45_bound", "lemma45_bound_expanded",
    "lemma45_expected_error", "gaussian_data", "top_s_mask", "sample_masks",
    "monte_carlo_errors", "monte_carlo_features", "mean_and_stderr",
]


# --------------------------------------------------------------------------------------------
# Basic quantities.

def row_norms(x: jax.Array) -> jax.Array:
    """||X_(k)|| for each row k of X (d, n) -> (d,)."""
    return jnp.linalg.norm(x, axis=1)


def p0(x: jax.Array, w0: jax.Array) -> jax.Array:
    """Eq. (2): p0_k = ||X_(k)|| |w0_k| / sum_j ||X_(j)|| |w0_j|.

    Args:
      x: (d, n) data, examples as columns.
      w0: (d,) weights at initialisation.

    Returns:
      (d,) probabilities summing to one.
    """
    scores = row_norms(x) * jnp.abs(w0)
    return scores / jnp.sum(scores)


def uniform_probs(d: int) -> jax.Array:
    """The uniform distribution on d entries (Lemma 4.5: m_i = d/s per draw)."""
    return jnp.full((d,), 1.0 / d, jnp.float32)


def features(x: jax.Array, w: jax.Array) -> jax.Array:
    """The linear features X^T w: (d, n), (d,) -> (n,)."""
    return x.T @ w


def masked_error(x: jax.Array, w: jax.Array, m: jax.Array) -> jax.Array:
    """E(m) = ||X^T w - X^T (w . m)||^2 (a scalar)."""
    return jnp.sum(jnp.square(x.T @ (w * (1.0 - m))))


def _safe_ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    # num / den with 0/0 = 0 (an entry never drawn that carries no mass) and c/0 = inf.
    return jnp.where(num == 0, 0.0, num / jnp.where(den == 0, 0.0, den))


# --------------------------------------------------------------------------------------------
# Exact expectations over the mask.

def expected_error(x: jax.Array, w_star: jax.Array, probs: jax.Array, s: int) -> jax.Array:
    """Lemma B.2 summed over examples (Lemma 4.3, equality line): E_m E(m), exact.

    E_m ||X^T w* - X^T(w* . m)||^2 = (1/s) sum_k ||X_(k)||^2 w*_k^2 / p_k - (1/s) ||X^T w*||^2
    for m from Algorithm 1 with any distribution p (p0 of Eq. (2), uniform, or p0 computed
    from other data and weights as in Lemma 4.3).

    Args:
      x: (d, n) data the error is measured on.
      w_star: (d,) weights the mask is applied to.
      probs: (d,) non-negative weights of the sampling distribution (normalised here).
      s: number of draws.

    Returns:
      A scalar; +inf when some p_k = 0 while ||X_(k)|| |w*_k| > 0 (the estimator is biased).
    """
    p = probs / jnp.sum(probs)
    mass = jnp.square(row_norms(x)) * jnp.square(w_star)
    return (jnp.sum(_safe_ratio(mass, p)) - jnp.sum(jnp.square(x.T @ w_star))) / s


def lemma41_expected_error(x: jax.Array, w0: jax.Array, s: int) -> jax.Array:
    """Lemma 4.1 (w* = w0, p = p0): (1/s)(sum_k ||X_(k)|| |w0_k|)^2 - (1/s)||X^T w0||^2."""
    total = jnp.sum(row_norms(x) * jnp.abs(w0))
    return (jnp.square(total) - jnp.sum(jnp.square(x.T @ w0))) / s


def lemma43_bound(x: jax.Array, x_tilde: jax.Array, w0: jax.Array, w_star: jax.Array,
                  s: int) -> jax.Array:
    """Lemma 4.3: the mask is drawn with p0(X~, w0) and applied to X, w*; the bound

    (1/s) sum_k [sum_j ||X~_(j)|| |w0_j|] / (||X~_(k)|| |w0_k|) ||X_(k)||^2 w*_k^2,
    i.e. `expected_error` without its "- (1/s)||X^T w*||^2" term.
    """
    scores = row_norms(x_tilde) * jnp.abs(w0)
    mass = jnp.square(row_norms(x)) * jnp.square(w_star)
    return jnp.sum(scores) * jnp.sum(_safe_ratio(mass, scores)) / s


# --------------------------------------------------------------------------------------------
# Expectations over X ~ N(0, 1/n) as well (Lemma 4.2, Theorem 4.4, Lemma 4.5).

def chi_mean_squared(n: int) -> float:
    """c_n = (E ||X_(k)||)^2 for a row of n N(0, 1/n) entries: (2/n) Gamma((n+1)/2)^2/Gamma(n/2)^2.

    c_n < 1 and c_n -> 1 - 1/(2n) (the paper's proof of Theorem 4.4 uses this number).
    """
    return 2.0 / n * math.exp(2.0 * (math.lgamma((n + 1) / 2) - math.lgamma(n / 2)))


def lemma42_bound(w0: jax.Array, s: int) -> jax.Array:
    """Lemma 4.2 as printed: E_X E_m E(m) <= ||w0||^2 / s.

    The proof's step (sum_k a_k)^2 <= sum_k a_k^2 (a_k = ||X_(k)|| |w0_k| >= 0) is reversed,
    so the bound is false once w0 has two or more non-zeros; see `lemma42_expected_error`.
    """
    return jnp.sum(jnp.square(w0)) / s


def lemma42_expected_error(w0: jax.Array, s: int, n: int) -> jax.Array:
    """E_X E_m E(m) for w* = w0, p = p0, X ~ N(0, 1/n), exact (derived from Lemma 4.1):

    (c_n / s) (||w0||_1^2 - ||w0||_2^2), with c_n = `chi_mean_squared(n)`.
    """
    return chi_mean_squared(n) * (jnp.square(jnp.sum(jnp.abs(w0)))
                                  - jnp.sum(jnp.square(w0))) / s


def theorem44_bound(w0: jax.Array, w_star: jax.Array, s: int) -> jax.Array:
    """Theorem 4.4 as printed:

    (1/s) ||w0||_1 ( ||w*-w0||^2 / ||w0||_inf + 2 ||w*-w0||_1 + ||w0||_1 ).

    The proof bounds sum_k (w*_k - w0_k)^2 / |w0_k| by ||w*-w0||^2 / ||w0||_inf, which is the
    wrong direction (1/|w0_k| >= 1/||w0||_inf); `theorem44_corrected_bound` uses min_k |w0_k|.
    """
    delta = w_star - w0
    l1 = jnp.sum(jnp.abs(w0))
    return l1 * (jnp.sum(jnp.square(delta)) / jnp.max(jnp.abs(w0))
                 + 2.0 * jnp.sum(jnp.abs(delta)) + l1) / s


def theorem44_corrected_bound(w0: jax.Array, w_star: jax.Array, s: int) -> jax.Array:
    """Theorem 4.4 with the proof's step repaired (||w0||_inf -> min_k |w0_k|):

    (1/s) ||w0||_1 ( ||w*-w0||^2 / min_k |w0_k| + 2 ||w*-w0||_1 + ||w0||_1 ).
    """
    delta = w_star - w0
    l1 = jnp.sum(jnp.abs(w0))
    return l1 * (jnp.sum(jnp.square(delta)) / jnp.min(jnp.abs(w0))
                 + 2.0 * jnp.sum(jnp.abs(delta)) + l1) / s


def theorem44_expected_error(w0: jax.Array, w_star: jax.Array, s: int, n: int) -> jax.Array:
    """E_X E_m E(m) for p = p0(X, w0), fixed w*, X ~ N(0, 1/n), exact (derived from B.2):

    (c_n / s) ( ||w0||_1 sum_k w*_k^2 / |w0_k| - ||w*||^2 ).
    """
    l1 = jnp.sum(jnp.abs(w0))
    weighted = jnp.sum(_safe_ratio(jnp.square(w_star), jnp.abs(w0)))
    return chi_mean_squared(n) * (l1 * weighted - jnp.sum(jnp.square(w_star))) / s


def lemma45_bound(w_star: jax.Array, s: int) -> jax.Array:
    """Lemma 4.5 (uniform mask, m_i = d/s per draw): E_X E_m E(m) <= (d/s) ||w*||^2."""
    return w_star.shape[0] * jnp.sum(jnp.square(w_star)) / s


def lemma45_bound_expanded(w0: jax.Array, w_star: jax.Array, s: int) -> jax.Array:
    """The right-hand form of Lemma 4.5: (d/s)(||w*-w0||^2 + 2 w*^T w0) - (d/s)||w0||^2."""
    d = w_star.shape[0]
    return d * (jnp.sum(jnp.square(w_star - w0)) + 2.0 * jnp.dot(w_star, w0)
                - jnp.sum(jnp.square(w0))) / s


def lemma45_expected_error(w_star: jax.Array, s: int) -> jax.Array:
    """E_X E_m E(m) for the uniform mask and X ~ N(0, 1/n), exact: ((d-1)/s) ||w*||^2."""
    return (w_star.shape[0] - 1) * jnp.sum(jnp.square(w_star)) / s


def gaussian_data(key: jax.Array, d: int, n: int) -> jax.Array:
    """X ~ N(0, 1/n): (d, n), the data of Lemma 4.2, Theorem 4.4 and Lemma 4.5."""
    return jax.random.normal(key, (d, n), jnp.float32) / math.sqrt(n)


# --------------------------------------------------------------------------------------------
# Masks and Monte Carlo.

@functools.partial(jax.jit, static_argnums=1)
def top_s_mask(scores: jax.Array, s: int) -> jax.Array:
    """The hard top-s mask: ones on the s largest scores (ties: lower index first), no scaling."""
    d = scores.shape[0]
    k = min(s, d)
    _, idx = jax.lax.top_k(scores, k)
    return jnp.zeros((d,), jnp.float32).at[idx].set(1.0)


def sample_masks(key: jax.Array, probs: jax.Array, s: int, num_masks: int) -> jax.Array:
    """num_masks masks from Algorithm 1, one key each: (num_masks, d)."""
    keys = jax.random.split(key, num_masks)
    return jax.vmap(lambda k: sketch_mask(k, probs, s))(keys)


@functools.partial(jax.jit, static_argnames=("s", "num_masks", "batch_size"))
def monte_carlo_errors(key: jax.Array, x: jax.Array, w: jax.Array, probs: jax.Array, s: int,
                       num_masks: int, batch_size: int = 256) -> jax.Array:
    """E(m) for num_masks masks of Algorithm 1 (p = probs, s draws), vmapped over keys.

    Args:
      key: PRNG key; mask i uses the i-th key of `jax.random.split(key, num_masks)`.
      x: (d, n) data; w: (d,) weights the mask is applied to.
      probs: (d,) sampling weights given to `sketch_mask`.
      s: draws per mask; num_masks: number of masks; batch_size: masks held at once.

    Returns:
      (num_masks,) errors ||X^T w - X^T (w . m)||^2.
    """
    keys = jax.random.split(key, num_masks)
    return jax.lax.map(lambda k: masked_error(x, w, sketch_mask(k, probs, s)), keys,
                       batch_size=min(batch_size, num_masks))


@functools.partial(jax.jit, static_argnames=("s", "num_masks", "batch_size"))
def monte_carlo_features(key: jax.Array, x: jax.Array, w: jax.Array, probs: jax.Array, s: int,
                         num_masks: int, batch_size: int = 256) -> jax.Array:
    """The masked features X^T (w . m) for num_masks masks: (num_masks, n)."""
    keys = jax.random.split(key, num_masks)
    return jax.lax.map(lambda k: x.T @ (w * sketch_mask(k, probs, s)), keys,
                       batch_size=min(batch_size, num_masks))


def mean_and_stderr(values: jax.Array, axis: int = 0) -> tuple[jax.Array, jax.Array]:
    """Sample mean and its standard error (std with ddof=1 over sqrt(count)) along `axis`."""
    count = values.shape[axis]
    return (jnp.mean(values, axis=axis),
            jnp.std(values, axis=axis, ddof=1) / math.sqrt(count))
