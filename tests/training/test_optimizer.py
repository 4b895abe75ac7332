"""`with_mask` in a user's own loop (flax's TrainState, an nnx.State): pruned weights stay
exactly 0, kept weights move exactly as under the training loop's own chain; `Mask.binary()`
against Algorithm 1's `values()`."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax.training import train_state

import sketchjax as sj
from sketchjax import trees
from sketchjax.masks import Mask
from sketchjax.models.registry import init_model
from sketchjax.training import mask_updates


@pytest.fixture(scope="module")
def lenet():
    return init_model("lenet_300_100", "digits", jax.random.key(0))


@pytest.fixture(scope="module")
def mask(lenet):
    return sj.prune(lenet, sj.Magnitude(density=0.2), progress=False)


def _loss(apply_fn, params, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(apply_fn(params, x), y).mean()


def test_train_state_apply_gradients_keeps_pruned_weights_at_zero(lenet, mask):
    x = jax.random.normal(jax.random.key(1), (16, 8, 8, 1))
    y = jnp.arange(16) % 10
    apply_fn = lambda p, x: lenet.module.apply({"params": p}, x)       # noqa: E731
    grad = jax.grad(lambda p: _loss(apply_fn, p, x, y))
    start = sj.apply_mask(lenet.params, mask)
    state = train_state.TrainState.create(apply_fn=apply_fn, params=start,
                                          tx=sj.with_mask(optax.sgd(0.1, momentum=0.9), mask))
    # The oracle: the training loop's chain, the mask passed at every update.
    tx = optax.chain(optax.sgd(0.1, momentum=0.9), mask_updates())
    params, opt_state = start, tx.init(start)
    for _ in range(3):
        state = state.apply_gradients(grads=grad(state.params))
        updates, opt_state = tx.update(grad(params), opt_state, params, mask=mask.binary())
        params = optax.apply_updates(params, updates)
    for path, m in mask.arrays.items():
        trained = np.asarray(trees.flatten(state.params)[path])
        assert np.all(trained[m == 0] == 0), path
        np.testing.assert_array_equal(trained, trees.flatten(params)[path])
    assert isinstance(state.opt_state, sj.WithMaskState)
    # Params not masked beforehand: the first update takes the pruned weights to exactly 0.
    state = train_state.TrainState.create(apply_fn=apply_fn, params=lenet.params,
                                          tx=sj.with_mask(optax.adam(1e-3), mask))
    state = state.apply_gradients(grads=grad(state.params))
    for path, m in mask.arrays.items():
        assert np.all(np.asarray(trees.flatten(state.params)[path])[m == 0] == 0), path


def test_an_nnx_state_trains_with_its_mask():
    model = nnx.Sequential(nnx.Linear(6, 5, rngs=nnx.Rngs(0)), nnx.relu,
                           nnx.Linear(5, 3, rngs=nnx.Rngs(1)))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    mask = sj.prune(sj.from_nnx(model, (6,)), sj.Random(density=0.5), progress=False)
    tx = sj.with_mask(optax.adam(0.1), mask.binary(like=params))    # the State's structure
    opt_state = tx.init(params)
    x, y = jnp.ones((4, 6)), jnp.arange(4) % 3

    @jax.jit
    def step(params, opt_state):
        def loss(p):
            return _loss(lambda p, x: nnx.merge(graphdef, p, rest)(x), p, x, y)
        updates, opt_state = tx.update(jax.grad(loss)(params), opt_state, params)
        return optax.apply_updates(params, updates), opt_state
    for _ in range(2):
        params, opt_state = step(params, opt_state)
    for path, m in mask.arrays.items():
        trained = np.asarray(trees.paths_of(params)[path])
        assert np.all(trained[m == 0] == 0) and np.all(trained[m != 0] != 0), path


def test_a_mask_with_paths_the_params_lack_is_one_error(lenet, mask):
    other = Mask({"Dense_9/kernel": np.ones((2, 2), bool)}, {})
    with pytest.raises(sj.SketchjaxError, match="Dense_9/kernel"):
        sj.with_mask(optax.sgd(0.1), other).init(lenet.params)
    with pytest.raises(sj.SketchjaxError, match="Dense_9/kernel"):
        sj.apply_mask(lenet.params, other)


def test_binary_is_the_support_values_are_algorithm_1s(lenet):
    sketch = sj.prune(lenet, sj.Random(density=0.1, selection="sketch"), progress=False)
    values = trees.flatten(sketch.values())
    binary = trees.flatten(sketch.binary())
    assert not sketch.is_binary and max(float(v.max()) for v in values.values()) > 1
    for path, v in values.items():
        np.testing.assert_array_equal(binary[path], (v != 0).astype(np.float32))
    k = "Dense_0/kernel"
    scaled = trees.flatten(sj.apply_mask(lenet.params, sketch, values=True))[k]
    support = trees.flatten(sj.apply_mask(lenet.params, sketch))[k]
    np.testing.assert_allclose(scaled, np.asarray(lenet.params["Dense_0"]["kernel"]) * values[k],
                               rtol=1e-6)
    np.testing.assert_array_equal(support != 0, values[k] != 0)
    # Expanded to the full params: ones on every leaf the mask does not name.
    full = sketch.binary(like=lenet.params)
    assert jax.tree.structure(full) == jax.tree.structure(lenet.params)
    np.testing.assert_array_equal(full["Dense_0"]["bias"], np.ones(300))


def test_a_frozen_dict_keeps_its_type():
    from flax.core import freeze
    params = freeze({"Dense_0": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}})
    out = sj.apply_mask(params, {"Dense_0": {"kernel": jnp.zeros((3, 2))}})
    assert type(out) is type(params) and float(out["Dense_0"]["bias"].sum()) == 2
    assert float(jnp.abs(out["Dense_0"]["kernel"]).sum()) == 0
