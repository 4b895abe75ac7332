"""Scorers against independent computations: closed forms on the linear model, flattened
Hessians and gradients on a small MLP."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from sketchjax import inputs, scorers, trees
from sketchjax.models.registry import create_model


def _apply(module):
    def fn(params, batch_stats, x):
        return module.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
    return fn


class SmallMLP(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        x = nn.relu(nn.Dense(6)(x.reshape(x.shape[0], -1)))
        x = nn.relu(nn.Dense(5)(x))
        return nn.Dense(3)(x)


def _small_mlp(seed=0):
    module = SmallMLP()
    params = module.init(jax.random.key(seed), jnp.zeros((1, 4)))["params"]
    # non-zero biases so the data scorers see a generic net
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(seed + 1),
                                                                 p.shape), params)
    return module, params


def test_synflow_on_linear_model_with_row_norm_input_gives_p0_numerators():
    d, n = 50, 30
    X = jax.random.normal(jax.random.key(0), (d, n)) / np.sqrt(n)
    module = create_model("linear", 1)
    params = module.init(jax.random.key(1), jnp.zeros((1, d)))["params"]
    row_norms = jnp.linalg.norm(X, axis=1)
    scores = scorers.synflow_scores(_apply(module), params, {}, row_norms[None, :])
    w = params["Dense_0"]["kernel"][:, 0]
    np.testing.assert_allclose(scores["Dense_0"]["kernel"][:, 0], row_norms * jnp.abs(w),
                               rtol=1e-6)


def test_snip_l1_with_one_nonzero_per_row_gives_p0():
    d, n = 40, 8
    rng = np.random.default_rng(2)
    X = np.zeros((d, n), np.float32)
    X[np.arange(d), rng.integers(0, n, d)] = rng.standard_normal(d)   # ||X_(j)||_0 = 1
    module = create_model("linear", 1)
    params = module.init(jax.random.key(3), jnp.zeros((1, d)))["params"]
    labels = jnp.zeros((1, n), jnp.int32)                              # target 1 for all
    scores = scorers.snip_scores(_apply(module), params, {}, jnp.asarray(X.T)[None], labels,
                                 loss="l1")
    w = np.asarray(params["Dense_0"]["kernel"][:, 0])
    expected = np.abs(w) * np.linalg.norm(X, axis=1)
    got = np.asarray(scores["Dense_0"]["kernel"][:, 0])
    np.testing.assert_allclose(got / got.sum(), expected / expected.sum(), rtol=1e-5)


def _flat_loss(module, params, images, labels, loss="cross_entropy", temperature=1.0):
    """Loss as a function of the flattened prunable kernels (the oracle's parameterisation)."""
    kernels = trees.prunable(params)
    vec, unravel = ravel_pytree(kernels)

    def fn(v):
        full = trees.unflatten({**trees.flatten(params), **trees.flatten(unravel(v))})
        out = module.apply({"params": full}, images) / temperature
        return scorers.classification_loss(out, labels, loss)
    return vec, unravel, fn


def test_snip_equals_flattened_gradient_oracle():
    # The reference accumulates the gradients of all prune batches, then takes |theta * g|.
    module, params = _small_mlp()
    images = jax.random.normal(jax.random.key(4), (2, 7, 4))
    labels = jax.random.randint(jax.random.key(5), (2, 7), 0, 3)
    got = ravel_pytree(scorers.snip_scores(_apply(module), params, {}, images, labels))[0]
    g, per_batch_abs = 0, 0
    for b in range(2):
        vec, unravel, fn = _flat_loss(module, params, images[b], labels[b])
        g = g + jax.grad(fn)(vec)
        per_batch_abs = per_batch_abs + jnp.abs(vec * jax.grad(fn)(vec))
    np.testing.assert_allclose(got, jnp.abs(vec * g), rtol=1e-5, atol=1e-8)
    # Not the sum of per-batch absolute values (gradients of opposite sign cancel).
    assert float(jnp.max(jnp.abs(got - per_batch_abs))) > 1e-3 * float(jnp.max(got))


def test_grasp_equals_explicit_hessian_times_gradient():
    module, params = _small_mlp(7)
    images = jax.random.normal(jax.random.key(8), (2, 9, 4))
    labels = jax.random.randint(jax.random.key(9), (2, 9), 0, 3)
    got = ravel_pytree(scorers.grasp_scores(_apply(module), params, {}, images, labels,
                                            temperature=2.0))[0]
    g, hess = 0, 0
    for b in range(2):
        vec, _, fn = _flat_loss(module, params, images[b], labels[b], temperature=2.0)
        g = g + jax.grad(fn)(vec)
        hess = hess + jax.hessian(fn)(vec)
    expected = vec * (hess @ g)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7 * float(jnp.abs(expected).max()))
    assert np.any(np.asarray(got) < 0)          # no abs: GraSP scores are signed


def test_synflow_pruned_weights_score_zero_and_input_scale_is_a_common_factor():
    module = create_model("resnet20", 10)
    variables = module.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    params, stats = variables["params"], variables["batch_stats"]
    mask = trees.split((jax.random.uniform(jax.random.key(1), (270_896,)) < 0.3)
                       .astype(jnp.float32), trees.prunable(params))
    masked = trees.apply_mask(params, mask)
    x = inputs.ones_input((32, 32, 3))
    apply_fn = _apply(module)
    s1 = trees.concat(scorers.synflow_scores(apply_fn, masked, stats, x))
    s2 = trees.concat(scorers.synflow_scores(apply_fn, masked, stats, x * 1e-20))
    assert jnp.all(s1[trees.concat(mask) == 0] == 0)
    assert jnp.all(jnp.isfinite(s1)) and jnp.all(s1 >= 0)
    live = s1 > 0                      # kept and still connected to input and output
    assert int(jnp.sum(live)) > 50_000
    np.testing.assert_allclose(s2[live] / s1[live], 1e-20, rtol=2e-4)
    assert jnp.all(s2[~live] == 0)
    # SynFlow's conservation: every layer's scores sum to R (homogeneous net at init)
    r = scorers.synflow_total(apply_fn, masked, stats, x)
    for path, s in trees.flatten(scorers.synflow_scores(apply_fn, masked, stats, x)).items():
        if "Dense" in path:
            np.testing.assert_allclose(float(jnp.sum(s)), float(r), rtol=1e-3)


def test_magnitude_and_random_scores():
    module, params = _small_mlp()
    mag = scorers.magnitude_scores(params)
    np.testing.assert_array_equal(trees.concat(mag), jnp.abs(trees.concat(trees.prunable(params))))
    r1 = scorers.random_scores(params, jax.random.key(0))
    r2 = scorers.random_scores(params, jax.random.key(0))
    r3 = scorers.random_scores(params, jax.random.key(1))
    np.testing.assert_array_equal(trees.concat(r1), trees.concat(r2))
    assert not np.array_equal(trees.concat(r1), trees.concat(r3))
    assert set(trees.flatten(r1)) == set(trees.prunable_paths(params))


def test_chi_input_law_matches_row_norms_of_gaussian_matrix():
    from scipy import stats
    n = 128
    chi = np.asarray(inputs.chi_input(jax.random.key(0), (20_000,), n))
    rows = np.linalg.norm(np.random.default_rng(0).standard_normal((20_000, n)) / np.sqrt(n),
                          axis=1)
    assert stats.ks_2samp(chi, rows).pvalue > 0.01
    # chi_n / sqrt(n): E[X^2] = 1, Var[X] ~ 1 / (2n)
    assert abs(np.mean(chi ** 2) - 1) < 4 * np.sqrt(2 / n / 20_000)
    assert abs(np.var(chi) - 1 / (2 * n)) < 0.1 / (2 * n)
