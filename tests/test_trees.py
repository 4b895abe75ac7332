"""Path conventions, prunable filter, concat/split."""
import jax
import jax.numpy as jnp
import numpy as np

from sketchjax import trees

PARAMS = {
    "Dense_0": {"kernel": jnp.arange(6.0).reshape(3, 2), "bias": jnp.ones(2)},
    "Block_0": {"Conv_0": {"kernel": jnp.arange(24.0).reshape(1, 2, 3, 4)},
                "BatchNorm_0": {"scale": jnp.ones(4), "bias": jnp.zeros(4)}},
}


def test_paths_are_sorted_and_slash_joined():
    assert list(trees.flatten(PARAMS)) == sorted(trees.flatten(PARAMS))
    assert trees.prunable_paths(PARAMS) == ["Block_0/Conv_0/kernel", "Dense_0/kernel"]


def test_prunable_filter_keeps_only_conv_and_dense_kernels():
    pr = trees.prunable(PARAMS)
    assert set(trees.flatten(pr)) == {"Block_0/Conv_0/kernel", "Dense_0/kernel"}
    assert trees.count_params(pr) == 30


def test_concat_split_roundtrip_in_sorted_path_order():
    pr = trees.prunable(PARAMS)
    flat = trees.concat(pr)
    np.testing.assert_array_equal(flat[:24], np.arange(24.0))       # Block_0 sorts first
    back = trees.split(flat, pr)
    jax.tree.map(np.testing.assert_array_equal, back, pr)


def test_apply_mask_touches_only_prunable_leaves():
    mask = jax.tree.map(jnp.zeros_like, trees.prunable(PARAMS))
    out = trees.apply_mask(PARAMS, mask)
    assert float(jnp.sum(jnp.abs(trees.concat(trees.prunable(out))))) == 0
    np.testing.assert_array_equal(out["Dense_0"]["bias"], PARAMS["Dense_0"]["bias"])
