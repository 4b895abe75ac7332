"""Your own model: a linen module (with and without `train`), an nnx.Sequential and a plain
function, each holding LeNet-300-100's initial weights, prune to exactly the registry model's
mask; the prunable rule, keep-dense patterns, the error when nothing is prunable, and prune
batches given unstacked."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import sketchjax as sj
from sketchjax import trees
from sketchjax.counts import kept_count
from sketchjax.models.registry import init_model

DATASET = "digits"           # 8x8x1 inputs: LeNet has 64*300 + 300*100 + 100*10 kernel weights
LAYERS = ("Dense_0", "Dense_1", "Dense_2")


@pytest.fixture(scope="module")
def lenet():
    return init_model("lenet_300_100", DATASET, jax.random.key(3))


@pytest.fixture(scope="module")
def reference(lenet):
    return sj.prune(lenet, sj.SynFlow(density=0.05, rounds=10), progress=False)


class PlainMLP(nn.Module):
    """LeNet-300-100 written as a user would: no `train` argument."""

    @nn.compact
    def __call__(self, x):
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(300)(x))
        x = nn.relu(nn.Dense(100)(x))
        return nn.Dense(10)(x)


def _nnx_lenet(params):
    rngs = nnx.Rngs(0)
    model = nnx.Sequential(lambda x: x.reshape((x.shape[0], -1)), nnx.Linear(64, 300, rngs=rngs),
                           nnx.relu, nnx.Linear(300, 100, rngs=rngs), nnx.relu,
                           nnx.Linear(100, 10, rngs=rngs))
    for index, layer in zip((1, 3, 5), LAYERS):
        model.layers[index].kernel.value = params[layer]["kernel"]
        model.layers[index].bias.value = params[layer]["bias"]
    return model


def _same_arrays(mask, reference, rename=lambda p: p):
    assert sorted(rename(p) for p in mask.arrays) == sorted(reference.arrays)
    for path, array in mask.arrays.items():
        np.testing.assert_array_equal(array, reference.arrays[rename(path)], err_msg=path)


def test_a_linen_module_prunes_as_the_registry_model(lenet, reference):
    # The registry's module (it takes `train`) and a user's module without it, same weights.
    for module in (lenet.module, PlainMLP()):
        bundle = sj.from_linen(module, {"params": lenet.params}, (8, 8, 1))
        assert bundle.num_classes == 10
        mask = sj.prune(bundle, sj.SynFlow(density=0.05, rounds=10), progress=False)
        _same_arrays(mask, reference)


def test_an_nnx_sequential_prunes_as_the_registry_model(lenet, reference):
    model = _nnx_lenet(lenet.params)
    bundle = sj.from_nnx(model, (8, 8, 1))
    assert sorted(trees.prunable_paths(bundle.params)) == [
        "layers/1/kernel", "layers/3/kernel", "layers/5/kernel"]    # integer keys, as text
    mask = sj.prune(bundle, sj.SynFlow(density=0.05, rounds=10), progress=False)
    names = dict(zip(("layers/1/kernel", "layers/3/kernel", "layers/5/kernel"),
                     (f"{layer}/kernel" for layer in LAYERS)))
    _same_arrays(mask, reference, names.get)
    # The mask applies to the model's own nnx.State, by the same paths.
    _, state = nnx.split(model, nnx.Param)
    masked = sj.apply_mask(state, mask)
    assert type(masked) is type(state)
    kernel = np.asarray(trees.paths_of(masked)["layers/1/kernel"])
    np.testing.assert_array_equal(kernel != 0, mask.arrays["layers/1/kernel"] != 0)


def test_a_plain_function_prunes_as_the_registry_model(lenet, reference):
    layers = [(lenet.params[name]["kernel"], lenet.params[name]["bias"]) for name in LAYERS]

    def apply_fn(params, x):
        x = x.reshape((x.shape[0], -1))
        for i, (w, b) in enumerate(params):
            x = x @ w + b
            x = jax.nn.relu(x) if i < len(params) - 1 else x
        return x
    bundle = sj.from_function(apply_fn, layers, (8, 8, 1))
    with pytest.raises(sj.SketchjaxError, match="leaves named 'kernel' with >= 2 dimensions"):
        sj.prune(bundle, sj.Magnitude(density=0.5), progress=False)
    mask = sj.prune(bundle, sj.SynFlow(density=0.05, rounds=10), progress=False,
                    prunable=lambda path, leaf: leaf.ndim == 2)
    _same_arrays(mask, reference, {f"{i}/0": f"{layer}/kernel"
                                   for i, layer in enumerate(LAYERS)}.get)
    assert mask.metadata["prunable_rule"]["rule"].endswith("<lambda>")
    assert mask.info.prunable == sum(a.size for a in mask.arrays.values())
    full = mask.binary(like=layers)          # the mask over the whole params, ones elsewhere
    assert jax.tree.structure(full) == jax.tree.structure(layers)
    np.testing.assert_array_equal(full[0][1], np.ones(300))
    masked = sj.apply_mask(layers, full)     # a mask in the params' own structure applies
    np.testing.assert_array_equal(np.asarray(masked[0][0]) != 0, mask.arrays["0/0"] != 0)


def test_keep_dense_leaves_a_layer_out_and_counts_follow(lenet):
    mask = sj.prune(lenet, sj.Magnitude(density=0.1), progress=False,
                    keep_dense=["Dense_2/*"])
    assert sorted(mask.arrays) == ["Dense_0/kernel", "Dense_1/kernel"]
    assert mask.info.kept == kept_count(64 * 300 + 300 * 100, 0.1)
    assert mask.metadata["prunable_rule"] == {"rule": "kernels (default)",
                                              "keep_dense": ["Dense_2/*"]}
    assert "Dense_2/kernel" not in sj.layer_table(mask.info)
    assert sorted(sj.prune(lenet, sj.Magnitude(density=0.1), progress=False,
                           keep_dense="Dense_2/*").arrays) == sorted(mask.arrays)   # a str
    # A registry model's mask with a layer kept dense trains: that layer stays dense.
    from sketchjax.training import TrainConfig, plan_run, train
    record, = train(plan_run("lenet_300_100", "digits", TrainConfig(epochs=1, batch_size=64),
                             mask=mask), progress=False).records
    assert record["kept"] == mask.info.kept and "Dense_2/kernel" not in record["per_layer"]
    with pytest.raises(sj.SketchjaxError, match="matches no prunable leaf"):
        sj.prune(lenet, sj.Magnitude(density=0.1), progress=False, keep_dense=["Dense_9/*"])
    with pytest.raises(sj.SketchjaxError, match="every prunable leaf is kept dense"):
        sj.prune(lenet, sj.Magnitude(density=0.1), progress=False, keep_dense=["*"])


def test_snip_takes_one_batch_or_stacked_batches(lenet):
    images = jax.random.normal(jax.random.key(0), (32, 8, 8, 1))
    labels = jnp.arange(32) % 10
    snip = sj.SNIP(density=0.1, data="real")
    one = sj.prune(lenet, snip, real_data=(images, labels), progress=False)
    stacked = sj.prune(lenet, snip, real_data=(images[None], labels[None]), progress=False)
    _same_arrays(one, stacked)
    with pytest.raises(sj.SketchjaxError, match="prune batches must be"):
        sj.prune(lenet, snip, real_data=(images, labels[None, None]), progress=False)
