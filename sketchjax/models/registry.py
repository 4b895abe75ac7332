"""The model registry: every model's builder and its per-model policy, by name.

Policy that depends on the model (not on the user's flags) lives here and nowhere else: the
training preset it gets by default, the path of its classifier kernel, whether IMP prunes that
classifier (OpenLTH: the ResNets do, VGG and LeNet leave it dense) and the paper's IMP rewind
step per dataset.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core import unfreeze

from sketchjax import names
from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError, check_int
from sketchjax.models import mlp, resnet, vgg


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model's builder and policy.

    Attributes:
      builder: (num_classes, **options) -> Linen module.
      preset: the training recipe used unless the user picks one ("paper" | "lenet").
      classifier: path of the output layer's kernel.
      imp_output_layer: "prune" | "ignore": whether IMP prunes the classifier (OpenLTH).
      rewind_iters: the paper's IMP rewind step per dataset name; "*" for any other dataset;
        0 when neither is listed.
    """
    builder: Callable[..., nn.Module]
    preset: str
    classifier: str
    imp_output_layer: str
    rewind_iters: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def rewind_step(self, dataset: str) -> int:
        """The IMP rewind step K for `dataset` (VGG-19: 1000; ResNet-20: 2000 on CIFAR-10,
        6000 on CIFAR-100; otherwise 0)."""
        return int(self.rewind_iters.get(dataset, self.rewind_iters.get("*", 0)))


_VGG_REWIND = {"*": 1000}
_RESNET20_REWIND = {"cifar10": 2000, "cifar100": 6000}
_REGISTRY: dict[str, ModelSpec] = {
    "vgg19_bn": ModelSpec(vgg.vgg19_bn, "paper", "Dense_0/kernel", "ignore", _VGG_REWIND),
    "vgg19": ModelSpec(vgg.vgg19, "paper", "Dense_0/kernel", "ignore", _VGG_REWIND),
    "resnet20": ModelSpec(resnet.resnet20, "paper", "Dense_0/kernel", "prune", _RESNET20_REWIND),
    "wide_resnet20": ModelSpec(resnet.wide_resnet20, "paper", "Dense_0/kernel", "prune"),
    "resnet18": ModelSpec(resnet.resnet18, "paper", "Dense_0/kernel", "prune"),
    "wide_resnet18": ModelSpec(resnet.wide_resnet18, "paper", "Dense_0/kernel", "prune"),
    "lenet_300_100": ModelSpec(mlp.lenet_300_100, "lenet", "Dense_2/kernel", "ignore"),
    "linear": ModelSpec(mlp.linear, "paper", "Dense_0/kernel", "prune"),
}
assert tuple(_REGISTRY) == names.MODELS, "sketchjax.names.MODELS and the registry disagree"

MODEL_NAMES: tuple[str, ...] = names.MODELS


def model_spec(name: str) -> ModelSpec:
    """The registry entry of model `name`; an unknown name lists the valid ones."""
    if name not in _REGISTRY:
        raise SketchjaxError(
            f"unknown model {name!r}; valid models: {', '.join(MODEL_NAMES)}")
    return _REGISTRY[name]


def create_model(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """The Flax module called `name`, with a `num_classes`-way head.

    Args:
      name: one of MODEL_NAMES.
      num_classes: number of logits (ignored by "linear", whose output is (B, 1)).
      **kwargs: model options, e.g. `width_multiplier` for "wide_resnet18".

    Returns:
      An unbound Linen module; call it as `module.apply(variables, x, train=...)`.

    Raises:
      SketchjaxError: unknown name, bad class count or option.
    """
    builder = model_spec(name).builder
    check_int(num_classes, "num_classes", 1)
    options = [p for p in inspect.signature(builder).parameters if p != "num_classes"]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise SketchjaxError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; "
            f"its options: {', '.join(options) or 'none'}")
    return builder(num_classes=num_classes, **kwargs)


# On a CPU, compiling init is what costs: XLA compiles one threefry+erfinv kernel per distinct
# kernel shape, ~0.2-0.5 s each at the default backend optimisation level. Level 1 compiles
# 3-5x faster and still runs VGG-19's 20M normal draws in well under a second (level 0 is
# slower overall). Only `init` is compiled, so XLA drops the forward pass entirely.
_CPU_INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


@functools.lru_cache(maxsize=64)
def _compiled_init(module: nn.Module, x_shape: tuple[int, ...], key_shape: tuple[int, ...],
                   key_dtype: Any) -> Callable:
    key = jax.ShapeDtypeStruct(key_shape, key_dtype)
    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    lowered = jax.jit(functools.partial(module.init, train=False)).lower(key, x)
    if jax.default_backend() == "cpu":
        try:
            return lowered.compile(compiler_options=_CPU_INIT_COMPILER_OPTIONS)
        except Exception:  # an XLA without the option: fall back to the default level
            pass
    return lowered.compile()


@functools.lru_cache(maxsize=None)
def inference_apply(module: nn.Module) -> Callable:
    """apply_fn(params, batch_stats, x) -> logits with BN in inference mode; one per module,
    so that jit sees the same static function for the same architecture."""
    def apply_fn(params, batch_stats, x):
        return module.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
    return apply_fn


@dataclasses.dataclass(frozen=True)
class ModelBundle:
    """An initialised model: what pruning takes.

    Attributes:
      name: the registry name (your own model's: the name you gave, `sketchjax.models.own`).
      module: the Linen module (None for an nnx model or a plain function).
      params: the parameters, a plain nested dict with string keys (everything counted as
        trainable).
      batch_stats: the 'batch_stats' collection (BN running mean/var); {} for models
        without BatchNorm.
      input_shape: one example's shape, without the batch axis, e.g. (32, 32, 3).
      num_classes: the width of the model's output (1 for "linear").
      inference: apply_fn(params, batch_stats, x) -> outputs in inference mode; None: the
        module's, with train=False (`inference_apply`).
    """
    name: str
    module: Optional[nn.Module]
    params: dict
    batch_stats: dict
    input_shape: tuple[int, ...]
    num_classes: int
    inference: Optional[Callable] = None

    @property
    def apply_fn(self) -> Callable:
        """apply_fn(params, batch_stats, x) -> outputs, BN on its running statistics: what
        the scorers run."""
        return self.inference if self.inference is not None else inference_apply(self.module)

    def apply(self, params, batch_stats, x, train: bool = False) -> jax.Array:
        """Logits (B, num_classes) for x (B, *input_shape).

        With train=True BatchNorm uses the batch's statistics; the updated running
        statistics are discarded (use `module.apply(..., mutable=['batch_stats'])` for them).
        """
        variables = {"params": params, "batch_stats": batch_stats}
        if train:
            logits, _ = self.module.apply(variables, x, train=True, mutable=["batch_stats"])
            return logits
        return self.module.apply(variables, x, train=False)


def init_model(name: str, dataset: str, key: jax.Array, num_classes: int | None = None,
               **kwargs: Any) -> ModelBundle:
    """Build model `name` for `dataset` and initialise it.

    Args:
      name: one of MODEL_NAMES.
      dataset: a dataset name known to `sketchjax.data.metadata`; gives the input shape
        and, unless `num_classes` is given, the class count.
      key: PRNG key for the initialisers.
      num_classes: overrides the dataset's class count.
      **kwargs: model options (see `create_model`).

    Returns:
      A ModelBundle with plain-dict params and batch_stats.
    """
    info = dataset_info(dataset)
    classes = info.num_classes if num_classes is None else num_classes
    module = create_model(name, classes, **kwargs)
    x = jnp.zeros((1,) + tuple(info.input_shape), jnp.float32)
    key = jnp.asarray(key)
    variables = unfreeze(_compiled_init(module, x.shape, key.shape, key.dtype)(key, x))
    logits = jax.eval_shape(functools.partial(module.apply, train=False), variables, x)
    return ModelBundle(
        name=name,
        module=module,
        params=dict(variables.get("params", {})),
        batch_stats=dict(variables.get("batch_stats", {})),
        input_shape=tuple(info.input_shape),
        num_classes=int(logits.shape[-1]),
    )


def abstract_model(name: str, dataset: str, num_classes: int | None = None
                   ) -> tuple[nn.Module, dict, tuple[int, ...], int]:
    """(module, params as ShapeDtypeStructs, input shape, classes), without running any
    initialiser: what validating a mask or a run needs, in milliseconds."""
    info = dataset_info(dataset)
    classes = info.num_classes if num_classes is None else num_classes
    module = create_model(name, classes)
    x = jax.ShapeDtypeStruct((1,) + tuple(info.input_shape), jnp.float32)
    variables = jax.eval_shape(functools.partial(module.init, train=False),
                               jax.random.key(0), x)
    return module, dict(variables.get("params", {})), tuple(info.input_shape), classes
