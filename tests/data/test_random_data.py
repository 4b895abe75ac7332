"""Random pruning data: normal and sparse batches."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sketchjax.data.random_data import normal_batch, sparse_batch
from sketchjax.errors import SketchjaxError

# 99.9% quantile of chi-square with 7 degrees of freedom (8 images): a fixed-key test that a
# uniform owner passes with probability 0.999; the keys below are fixed, so it is not flaky.
CHI2_7_999 = 24.32


@pytest.mark.parametrize("shape", [(32, 32, 3), (28, 28, 1), (40, 1)])
def test_normal_batch(shape):
    x, y = normal_batch(jax.random.key(0), 64, shape, 10)
    assert x.shape == (64, *shape) and x.dtype == jnp.float32
    assert y.shape == (64,) and y.dtype == jnp.int32
    assert int(y.min()) >= 0 and int(y.max()) < 10
    x = np.asarray(x)
    assert abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05


def test_normal_batch_labels_are_uniform():
    _, y = normal_batch(jax.random.key(1), 10000, (2, 1), 10)
    counts = np.bincount(np.asarray(y), minlength=10)
    chi2 = ((counts - 1000) ** 2 / 1000).sum()
    assert chi2 < 27.88  # 99.9% quantile, 9 degrees of freedom


@pytest.mark.parametrize("shape", [(16, 16, 3), (40, 1), (8, 8, 1)])
def test_sparse_batch_keeps_one_image_per_location_with_all_channels(shape):
    key = jax.random.key(2)
    x, y = sparse_batch(key, 8, shape, 10)
    dense, dense_y = normal_batch(key, 8, shape, 10)
    x, dense = np.asarray(x), np.asarray(dense)
    assert x.shape == (8, *shape) and x.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(y), np.asarray(dense_y))
    nonzero = x != 0
    owners = nonzero.any(-1)  # (B, *spatial)
    assert (owners.sum(0) == 1).all()  # exactly one image per location
    assert (nonzero.all(-1) == owners).all()  # all channels kept together
    np.testing.assert_array_equal(x[nonzero], dense[nonzero])  # kept values are the normal ones


def test_sparse_owner_is_uniform():
    x, _ = sparse_batch(jax.random.key(3), 8, (64, 64, 3), 10)
    owner = np.asarray(x != 0).any(-1).argmax(0)  # (64, 64)
    counts = np.bincount(owner.ravel(), minlength=8)
    expected = owner.size / 8
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < CHI2_7_999, counts


def test_determinism_and_key_dependence():
    a = sparse_batch(jax.random.key(4), 16, (8, 8, 3), 10)
    b = sparse_batch(jax.random.key(4), 16, (8, 8, 3), 10)
    c = sparse_batch(jax.random.key(5), 16, (8, 8, 3), 10)
    np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))
    np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))
    assert not np.array_equal(np.asarray(a[0]), np.asarray(c[0]))
    legacy = sparse_batch(jax.random.PRNGKey(4), 16, (8, 8, 3), 10)
    assert legacy[0].shape == a[0].shape


def test_jit_with_static_arguments():
    fn = jax.jit(functools.partial(sparse_batch, batch_size=4, input_shape=(6, 6, 2),
                                   num_classes=3))
    x, _ = fn(jax.random.key(6))
    np.testing.assert_array_equal(np.asarray(x),
                                  np.asarray(sparse_batch(jax.random.key(6), 4, (6, 6, 2), 3)[0]))


def test_bad_arguments():
    key = jax.random.key(0)
    with pytest.raises(SketchjaxError):
        normal_batch(key, 0, (4, 4, 1), 10)
    with pytest.raises(SketchjaxError):
        sparse_batch(key, 4, (16,), 10)
    with pytest.raises(SketchjaxError):
        sparse_batch(key, 4, (4, 4, 1), 0)
