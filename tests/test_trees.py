"""Path conventions, prunable filter, concat/split."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sketchjax import trees
from sketchjax.errors import SketchjaxError

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


def test_integer_keys_and_nnx_states_have_the_paths_of_their_pure_dicts():
    from flax import nnx
    model = nnx.Sequential(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), nnx.relu,
                           nnx.Linear(2, 1, rngs=nnx.Rngs(1)))
    state = nnx.split(model, nnx.Param)[1]
    pure = state.to_pure_dict()
    assert list(trees.flatten(pure)) == list(trees.paths_of(state)) == list(trees.paths_of(pure))
    assert trees.prunable_paths(state) == ["layers/0/kernel", "layers/2/kernel"]
    assert list(trees.paths_of([{"w": 1}, (2, 3)])) == ["0/w", "1/0", "1/1"]
    with pytest.raises(SketchjaxError, match="same path"):
        trees.paths_of({"a": {"b": 1}, "a/b": 2})


def test_a_prunable_rule_chooses_the_leaves():
    rule = lambda path, leaf: path.startswith("Dense_0")                 # noqa: E731
    assert trees.prunable_paths(PARAMS, rule) == ["Dense_0/bias", "Dense_0/kernel"]
    assert trees.unflatten(trees.flatten(PARAMS)) == PARAMS
