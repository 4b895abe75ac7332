"""Model names -> Flax modules, and initialised models for a dataset."""
from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core import unfreeze

from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError
from sketchjax.models import mlp, resnet, vgg

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "vgg19_bn": vgg.vgg19_bn,
    "vgg19": vgg.vgg19,
    "resnet20": resnet.resnet20,
    "wide_resnet20": resnet.wide_resnet20,
    "resnet18": resnet.resnet18,
    "wide_resnet18": resnet.wide_resnet18,
    "lenet_300_100": mlp.lenet_300_100,
    "linear": mlp.linear,
}

MODEL_NAMES: tuple[str, ...] = tuple(_BUILDERS)


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
    if name not in _BUILDERS:
        raise SketchjaxError(
            f"unknown model {name!r}; valid models: {', '.join(MODEL_NAMES)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise SketchjaxError(f"num_classes must be a positive integer; got {num_classes!r}")
    builder = _BUILDERS[name]
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


@dataclasses.dataclass(frozen=True)
class ModelBundle:
    """An initialised model.

    Attributes:
      name: the registry name.
      module: the Linen module.
      params: the 'params' collection, a plain nested dict (everything counted as trainable).
      batch_stats: the 'batch_stats' collection (BN running mean/var); {} for models
        without BatchNorm.
      input_shape: one example's shape, without the batch axis, e.g. (32, 32, 3).
      num_classes: the width of the model's output (1 for "linear").
    """
    name: str
    module: nn.Module
    params: dict
    batch_stats: dict
    input_shape: tuple[int, ...]
    num_classes: int

    def variables(self, params=None, batch_stats=None) -> dict:
        """The variables dict for `module.apply`, from this bundle's or the given trees."""
        params = self.params if params is None else params
        batch_stats = self.batch_stats if batch_stats is None else batch_stats
        return {"params": params, "batch_stats": batch_stats}

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
