"""One jax-free module names everything; the registries hold exactly those names."""
import subprocess
import sys

from sketchjax import names


def test_names_import_without_jax():
    code = "import sys, sketchjax.names; assert 'jax' not in sys.modules, 'jax imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_registries_hold_exactly_the_names():
    from sketchjax.data.metadata import DATASETS
    from sketchjax.models.registry import MODEL_NAMES, model_spec
    from sketchjax.training.config import PRESETS

    assert MODEL_NAMES == names.MODELS
    assert tuple(DATASETS) == names.DATASETS
    assert tuple(PRESETS) == names.PRESETS
    from sketchjax import methods
    assert methods.method_names() == ("synflow", "snip", "grasp", "magnitude", "random", "imp")
    assert set(names.IMP_SELECTIONS) <= set(names.SELECTIONS)
    for model in names.MODELS:
        spec = model_spec(model)
        assert spec.preset in names.PRESETS
        assert spec.imp_output_layer in names.OUTPUT_LAYER_MODES


def test_model_policy_lives_in_the_registry():
    from sketchjax.models.registry import abstract_model, model_spec

    assert model_spec("vgg19_bn").rewind_step("cifar10") == 1000
    assert model_spec("vgg19").rewind_step("cifar100") == 1000
    assert model_spec("resnet20").rewind_step("cifar10") == 2000
    assert model_spec("resnet20").rewind_step("cifar100") == 6000
    assert model_spec("lenet_300_100").rewind_step("mnist") == 0
    assert model_spec("resnet20").imp_output_layer == "prune"
    assert model_spec("vgg19").imp_output_layer == "ignore"
    assert model_spec("lenet_300_100").preset == "lenet"
    assert model_spec("resnet20").preset == "paper"
    # The named classifier is the model's output layer: a 2-D kernel with C outputs.
    for model, dataset in (("vgg19_bn", "cifar100"), ("resnet20", "cifar10"),
                           ("lenet_300_100", "mnist1d"), ("resnet18", "tiny_imagenet")):
        _, params, _, classes = abstract_model(model, dataset)
        from sketchjax import trees
        kernel = trees.flatten(params)[model_spec(model).classifier]
        assert kernel.shape[-1] == classes and len(kernel.shape) == 2
