"""The model zoo: exact parameter counts (docs/methods.md, "Models"), init distributions, shapes."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError
from sketchjax.models import MODEL_NAMES, ModelBundle, create_model, init_model
from sketchjax.trees import count_params, flatten, prunable

KEY = jax.random.key(0)


def shapes(name, dataset, num_classes=None, **kwargs):
    """(params, batch_stats) as ShapeDtypeStructs: no allocation, no compile."""
    info = dataset_info(dataset)
    module = create_model(name, num_classes or info.num_classes, **kwargs)
    x = jnp.zeros((1,) + info.input_shape)
    variables = jax.eval_shape(lambda k: module.init(k, x, train=False), KEY)
    return module, variables["params"], variables.get("batch_stats", {})


_BUNDLES = {}


def bundle(name, dataset, **kwargs):
    """A really initialised model, shared between tests (init compiles)."""
    cache_key = (name, dataset, tuple(sorted(kwargs.items())))
    if cache_key not in _BUNDLES:
        _BUNDLES[cache_key] = init_model(name, dataset, KEY, **kwargs)
    return _BUNDLES[cache_key]


# (model, dataset, params, prunable), params counted as PyTorch counts trainable parameters
# (BN running statistics excluded); docs/methods.md lists them.
COUNTS = [
    ("vgg19_bn", "cifar10", 20_040_522, 20_024_000),
    ("vgg19_bn", "cifar100", 20_086_692, 20_070_080),
    ("vgg19", "cifar10", 20_029_514, 20_024_000),
    ("resnet20", "cifar10", 272_474, 270_896),
    ("resnet20", "cifar100", 278_324, 276_656),
    ("wide_resnet20", "cifar10", 1_084_586, 1_081_440),
    ("wide_resnet20", "cifar100", 1_096_196, 1_092_960),
    ("resnet18", "tiny_imagenet", 11_271_432, 11_261_632),
    ("lenet_300_100", "mnist", 266_610, 266_200),
    ("linear", "mnist", 784, 784),
    ("linear", "cifar10", 3072, 3072),
]


@pytest.mark.parametrize("name,dataset,n_params,n_prunable", COUNTS)
def test_param_counts(name, dataset, n_params, n_prunable):
    _, params, _ = shapes(name, dataset)
    assert count_params(params) == n_params
    assert count_params(prunable(params)) == n_prunable


def _resnet18_count(width_multiplier, num_classes=200):
    """Independent closed form of the Tiny-ImageNet ResNet-18's trainable parameter count."""
    w = [round(c * width_multiplier) for c in (64, 128, 256, 512)]
    total = 9 * 3 * w[0] + 2 * w[0]  # stem conv + BN
    c_in = w[0]
    for width in w:
        for block in range(2):
            total += 9 * c_in * width + 9 * width * width + 4 * width  # 2 convs + 2 BNs
            if c_in != width:
                total += c_in * width + 2 * width  # 1x1 projection + BN
            c_in = width
    return total + w[3] * num_classes + num_classes


def test_wide_resnet18_widens():
    assert _resnet18_count(1) == 11_271_432  # the closed form agrees with COUNTS
    _, params, _ = shapes("wide_resnet18", "tiny_imagenet")
    assert count_params(params) == _resnet18_count(2) == 44_857_672
    # The reference's "wide-resnet18" (= resnet18) is width_multiplier=1.
    _, params, _ = shapes("wide_resnet18", "tiny_imagenet", width_multiplier=1)
    assert count_params(params) == 11_271_432
    _, params, _ = shapes("wide_resnet18", "tiny_imagenet", width_multiplier=4)
    assert count_params(params) == _resnet18_count(4)


def test_batch_stats_not_counted_and_only_with_batch_norm():
    _, params, stats = shapes("resnet20", "cifar10")
    # BN running mean and var: 2 per channel of each of the 19 + 2 BNs.
    n_channels = 16 + 6 * 16 + 6 * 32 + 6 * 64 + 32 + 64
    assert count_params(stats) == 2 * n_channels
    assert "batch_stats" not in str(flatten(params).keys())
    for name, dataset in [("vgg19", "cifar10"), ("lenet_300_100", "mnist"), ("linear", "mnist")]:
        assert shapes(name, dataset)[2] == {}


def test_init_model_bundle():
    b = bundle("resnet20", "cifar100")
    assert isinstance(b, ModelBundle)
    assert type(b.params) is dict and type(b.batch_stats) is dict
    assert all(type(v) is dict for v in b.params.values() if not hasattr(v, "shape"))
    assert b.input_shape == (32, 32, 3) and b.num_classes == 100 and b.name == "resnet20"
    assert count_params(b.params) == 278_324
    # Same key, same params; a different key, different params.
    again = init_model("resnet20", "cifar100", KEY)
    np.testing.assert_array_equal(again.params["Conv_0"]["kernel"], b.params["Conv_0"]["kernel"])
    other = init_model("resnet20", "cifar100", jax.random.key(1))
    assert not np.allclose(other.params["Conv_0"]["kernel"], b.params["Conv_0"]["kernel"])
    # num_classes overrides the dataset's (OpenLTH's CIFAR-100 bug builds 10; we do not).
    ten = init_model("lenet_300_100", "cifar100", KEY, num_classes=10)
    assert ten.params["Dense_2"]["kernel"].shape == (100, 10) and ten.num_classes == 10


def _check_untruncated_normal(w, std):
    w = np.asarray(w).ravel()
    assert abs(w.mean()) < 0.02 * std
    assert abs(w.std() / std - 1) < 0.02, (w.std(), std)
    tail = np.mean(np.abs(w) > 2 * std)  # 4.55% for a normal; 0% if truncated at 2 std
    assert abs(tail - 0.0455) < 0.005, tail
    assert np.abs(w).max() > 3.5 * std


def test_kaiming_normal_fan_in_untruncated():
    p = bundle("resnet20", "cifar10").params
    w = p["BasicBlock_8"]["Conv_1"]["kernel"]  # 3x3x64x64
    assert w.shape == (3, 3, 64, 64)
    _check_untruncated_normal(w, math.sqrt(2 / (9 * 64)))
    # fan_in, not fan_out, where they differ (3x3x32x64: fan_in 288, fan_out 576).
    w = np.asarray(p["BasicBlock_6"]["Conv_0"]["kernel"])
    assert w.shape == (3, 3, 32, 64)
    assert abs(w.std() / math.sqrt(2 / 288) - 1) < 0.03
    # Classifier: kaiming normal too; every bias 0; BN scale 1, bias 0.
    assert abs(np.std(p["Dense_0"]["kernel"]) / math.sqrt(2 / 64) - 1) < 0.1
    for path, leaf in flatten(p).items():
        if path.endswith("bias"):
            assert not np.any(leaf), path
        if path.endswith("scale"):
            assert np.all(np.asarray(leaf) == 1), path


def test_vgg_and_mlp_init():
    p = bundle("vgg19_bn", "cifar10").params
    w = p["Conv_15"]["kernel"]  # 3x3x512x512, 2.4M draws
    _check_untruncated_normal(w, math.sqrt(2 / (9 * 512)))
    conv_biases = [leaf for path, leaf in flatten(p).items()
                   if path.startswith("Conv_") and path.endswith("bias")]
    assert len(conv_biases) == 16 and not any(np.any(b) for b in conv_biases)
    assert not np.any(p["Dense_0"]["bias"])
    p = bundle("lenet_300_100", "mnist").params
    _check_untruncated_normal(p["Dense_0"]["kernel"], math.sqrt(2 / 784))
    assert not np.any(p["Dense_0"]["bias"])


def test_resnet18_reference_init():
    p = bundle("resnet18", "tiny_imagenet").params
    # Convs: kaiming normal with fan_out (3x3x256x512: fan_out 4608, fan_in 2304).
    w = p["BasicBlock_6"]["Conv_0"]["kernel"]
    assert w.shape == (3, 3, 256, 512)
    _check_untruncated_normal(w, math.sqrt(2 / (9 * 512)))
    w = p["BasicBlock_6"]["Conv_2"]["kernel"]  # 1x1 projection: fan_out 512
    assert abs(np.std(w) / math.sqrt(2 / 512) - 1) < 0.02
    # Classifier weight and bias: PyTorch's uniform(+-1/sqrt(fan_in)), fan_in 512.
    bound = 1 / math.sqrt(512)
    for leaf in (p["Dense_0"]["kernel"], p["Dense_0"]["bias"]):
        leaf = np.asarray(leaf)
        assert np.abs(leaf).max() <= bound
        assert np.abs(leaf).max() > 0.95 * bound
        assert abs(leaf.std() / (bound / math.sqrt(3)) - 1) < 0.2
    assert p["Dense_0"]["kernel"].shape == (512, 200)
    assert not np.any(p["BasicBlock_0"]["BatchNorm_0"]["bias"])


# Every model on its dataset: logits (B, C) in eval and train mode, shapes only.
FORWARD = [("vgg19_bn", "cifar10", 10), ("vgg19_bn", "cifar100", 100), ("vgg19", "cifar10", 10),
           ("resnet20", "cifar10", 10), ("resnet20", "cifar100", 100),
           ("wide_resnet20", "cifar10", 10), ("resnet18", "tiny_imagenet", 200),
           ("wide_resnet18", "tiny_imagenet", 200), ("lenet_300_100", "mnist", 10),
           ("lenet_300_100", "fashion_mnist", 10), ("resnet20", "mnist", 10),
           ("linear", "mnist", 1), ("linear", "mnist1d", 1), ("lenet_300_100", "digits", 10)]


@pytest.mark.parametrize("name,dataset,width", FORWARD)
def test_forward_shapes(name, dataset, width):
    module, params, stats = shapes(name, dataset)
    x = jax.ShapeDtypeStruct((3,) + dataset_info(dataset).input_shape, jnp.float32)
    variables = {"params": params, "batch_stats": stats}
    out = jax.eval_shape(lambda v, x: module.apply(v, x, train=False), variables, x)
    assert out.shape == (3, width)
    out, updates = jax.eval_shape(
        lambda v, x: module.apply(v, x, train=True, mutable=["batch_stats"]), variables, x)
    assert out.shape == (3, width)
    assert jax.tree.map(lambda s: s.shape, updates.get("batch_stats", {})) == \
        jax.tree.map(lambda s: s.shape, stats)


@pytest.mark.parametrize("name,dataset", [("resnet20", "cifar10"), ("vgg19_bn", "cifar10"),
                                          ("lenet_300_100", "mnist"), ("linear", "mnist")])
def test_forward_values_and_batch_stats(name, dataset):
    b = bundle(name, dataset)
    x = jax.random.normal(jax.random.key(2), (2,) + b.input_shape) + 0.5
    eval_logits = b.module.apply({"params": b.params, "batch_stats": b.batch_stats}, x,
                                 train=False)
    assert eval_logits.shape == (2, b.num_classes) and np.all(np.isfinite(eval_logits))
    train_logits, updates = b.module.apply({"params": b.params, "batch_stats": b.batch_stats},
                                           x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(b.apply(b.params, b.batch_stats, x, train=True), train_logits,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.apply(b.params, b.batch_stats, x), eval_logits,
                               rtol=1e-5, atol=1e-5)
    if not b.batch_stats:
        assert updates.get("batch_stats", {}) == {}
        np.testing.assert_allclose(train_logits, eval_logits, rtol=1e-6)
        return
    # Running stats move by PyTorch's momentum 0.1 towards the statistics of the batch; the
    # first BN sees the stem conv (3x3, PyTorch padding 1; conv biases are 0 at init).
    conv = jax.lax.conv_general_dilated(x, b.params["Conv_0"]["kernel"], (1, 1),
                                        ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    old, new = b.batch_stats["BatchNorm_0"], updates["batch_stats"]["BatchNorm_0"]
    np.testing.assert_allclose(old["mean"], 0.0)
    np.testing.assert_allclose(old["var"], 1.0)
    np.testing.assert_allclose(new["mean"], 0.1 * conv.mean(axis=(0, 1, 2)), atol=1e-5)
    np.testing.assert_allclose(new["var"], 0.9 + 0.1 * conv.var(axis=(0, 1, 2)),
                               rtol=1e-4, atol=1e-5)
    # Train mode normalises with batch statistics, so its logits differ from eval mode's.
    assert not np.allclose(train_logits, eval_logits, atol=1e-3)


def test_linear_is_w_dot_x():
    b = bundle("linear", "mnist")
    assert list(flatten(b.params)) == ["Dense_0/kernel"]
    w = b.params["Dense_0"]["kernel"]
    assert w.shape == (784, 1)
    x = jax.random.normal(jax.random.key(3), (4, 28, 28, 1))
    np.testing.assert_allclose(b.apply(b.params, {}, x), x.reshape(4, -1) @ w, rtol=1e-5)


def test_unknown_model_lists_valid_names():
    with pytest.raises(SketchjaxError) as err:
        create_model("resnet50", 10)
    for name in MODEL_NAMES:
        assert name in str(err.value)
    with pytest.raises(SketchjaxError, match="vgg19_bn"):
        init_model("vgg16", "cifar10", KEY)
    assert len(MODEL_NAMES) == 8 and "wide_resnet18" in MODEL_NAMES


def test_user_mistakes_are_sketchjax_errors():
    with pytest.raises(SketchjaxError, match="width_multiplier"):
        create_model("resnet20", 10, width_multiplier=2)
    with pytest.raises(SketchjaxError, match="num_classes"):
        create_model("resnet20", 0)
    with pytest.raises(SketchjaxError, match="width_multiplier"):
        create_model("wide_resnet18", 200, width_multiplier=-1)
    with pytest.raises(SketchjaxError, match="cifar10"):
        init_model("resnet20", "imagenet", KEY)
    with pytest.raises(SketchjaxError, match="32"):  # 8x8 digits are too small for VGG
        init_model("vgg19", "digits", KEY)


def test_wide_resnet18_docstring_names_the_reference_quirk():
    from sketchjax.models import wide_resnet18
    assert "identical to resnet18" in " ".join(wide_resnet18.__doc__.split())


def test_stride2_conv_pads_like_pytorch():
    # flax's "SAME" pads a stride-2 3x3 conv (0, 1); PyTorch's padding=1 pads (1, 1).
    from sketchjax.models import BasicBlock
    block = BasicBlock(features=4, strides=2)
    x = jax.random.normal(jax.random.key(4), (1, 8, 8, 3))
    variables = block.init(KEY, x, train=False)
    _, state = block.apply(variables, x, train=False, capture_intermediates=True,
                           mutable=["intermediates"])
    got = state["intermediates"]["Conv_0"]["__call__"][0]
    want = jax.lax.conv_general_dilated(x, variables["params"]["Conv_0"]["kernel"], (2, 2),
                                        ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    assert got.shape == (1, 4, 4, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    shortcut = state["intermediates"]["Conv_2"]["__call__"][0]  # 1x1 stride 2: pixels 0, 2, ..
    w = variables["params"]["Conv_2"]["kernel"][0, 0]
    np.testing.assert_allclose(shortcut, x[:, ::2, ::2] @ w, rtol=1e-5, atol=1e-5)


def test_tiny_map_conv_path_equals_lax_conv():
    from jax import lax
    from sketchjax.models import layers
    for shape in [(3, 2, 2, 8), (2, 1, 1, 5), (2, 4, 4, 3)]:
        x = jax.random.normal(jax.random.key(0), shape)
        w = jax.random.normal(jax.random.key(1), (3, 3, shape[-1], 6))
        dn = lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC"))
        args = ((1, 1), ((1, 1), (1, 1)))
        expected = lax.conv_general_dilated(x, w, *args, dimension_numbers=dn)
        got = layers.conv_general_dilated(x, w, *args, dimension_numbers=dn)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        g_expected = jax.grad(lambda w: jnp.sum(jnp.sin(lax.conv_general_dilated(
            x, w, *args, dimension_numbers=dn))))(w)
        g_got = jax.grad(lambda w: jnp.sum(jnp.sin(layers.conv_general_dilated(
            x, w, *args, dimension_numbers=dn))))(w)
        np.testing.assert_allclose(g_got, g_expected, rtol=1e-4, atol=1e-4)
