"""Fig. 2's random masks: real shuffles, uniform positions, the vmapped computation equal to a
loop over the same masks."""
import jax
import jax.numpy as jnp
import numpy as np

from experiments.figures import random_mask_norms, shuffled_mask


def test_shuffled_mask_keeps_the_count_and_spreads_uniformly():
    mask = jnp.zeros(50).at[:7].set(1.0)
    masks = np.asarray(jax.vmap(lambda k: shuffled_mask(k, mask))(
        jax.random.split(jax.random.key(0), 20_000)))
    assert np.all(masks.sum(1) == 7) and set(np.unique(masks)) == {0.0, 1.0}
    freq = masks.mean(0)                          # each position kept with probability 7/50
    np.testing.assert_allclose(freq, 7 / 50, atol=4 * np.sqrt(0.14 * 0.86 / 20_000))
    assert np.all(np.asarray(shuffled_mask(jax.random.key(1), jnp.zeros(9))) == 0)


def test_the_10000_mask_computation_equals_a_loop_over_20_of_the_same_masks():
    rng = np.random.default_rng(0)
    theta = jnp.asarray(rng.standard_normal(3000), jnp.float32)
    mask = jnp.asarray(rng.random(3000) < 0.1, jnp.float32)
    keys = jax.random.split(jax.random.key(5), 10_000)
    norms = np.asarray(random_mask_norms(keys, mask, theta))
    assert norms.shape == (10_000,)
    for i in range(20):
        m = np.asarray(shuffled_mask(keys[i], mask))
        assert m.sum() == mask.sum()
        np.testing.assert_allclose(norms[i], np.linalg.norm(np.asarray(theta) * m), rtol=1e-5)
    # The ticket-free reference: E ||theta * m||^2 = (k / n) ||theta||^2.
    expected = float(mask.sum()) / 3000 * float(jnp.sum(theta ** 2))
    assert abs(np.mean(norms ** 2) - expected) < 4 * np.std(norms ** 2) / np.sqrt(10_000)
