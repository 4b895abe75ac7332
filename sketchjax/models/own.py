"""Your own model as the `ModelBundle` that `prune` takes: a flax linen module, an nnx module,
or a plain function of (params, x).

Every form ends as params keyed by path strings ("layers/0/kernel" for an nnx.Sequential's
first layer, whose key is the integer 0) and an inference function over them; the function
puts the params back into the model's own structure before it runs it. The mask `prune`
returns is keyed by the same paths, which `apply_mask`, `with_mask` and `Mask.binary(like=...)`
match against the model's own params (dict, FrozenDict or nnx.State) directly.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from sketchjax import trees
from sketchjax.errors import SketchjaxError
from sketchjax.models.registry import ModelBundle


def _restorer(tree: Any) -> tuple[dict, Callable[[Mapping], Any]]:
    """(the tree's leaves as a nested dict by path, a function that puts such a dict back into
    the tree's own structure and types)."""
    flat = trees.paths_of(tree)
    order = [trees.key_path(keys) for keys, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    treedef = jax.tree_util.tree_structure(tree)

    def restore(params: Mapping) -> Any:
        by_path = trees.flatten(params)
        return jax.tree_util.tree_unflatten(treedef, [by_path[p] for p in order])
    return trees.unflatten(flat), restore


def _bundle(name: str, module, params: dict, batch_stats: dict,
            input_shape: Sequence[int], inference: Callable) -> ModelBundle:
    """The bundle, its class count read off the output's shape (no computation)."""
    x = jax.ShapeDtypeStruct((1,) + tuple(input_shape), jnp.float32)
    try:
        out = jax.eval_shape(inference, params, batch_stats, x)
    except Exception as e:  # noqa: BLE001  (a user's model may raise anything)
        raise SketchjaxError(f"{name}: the model does not run on one input of shape "
                             f"{tuple(input_shape)}: {type(e).__name__}: {e}") from e
    return ModelBundle(name=name, module=module, params=params, batch_stats=batch_stats,
                       input_shape=tuple(input_shape), num_classes=int(out.shape[-1]),
                       inference=inference)


def from_linen(module, variables: Mapping, input_shape: Sequence[int], *,
               name: str = "linen") -> ModelBundle:
    """A flax linen module and its variables (`module.init`'s output, or the params alone).

    The module runs as `module.apply(variables, x)`, with `train=False` only where its
    `__call__` takes a `train` argument; BatchNorm statistics come from "batch_stats".

    Args:
      module: any linen Module.
      variables: {"params": ..., "batch_stats": ...} (FrozenDict or dict), or the params.
      input_shape: one example's shape, without the batch axis.
      name: what the mask's metadata names the model.
    """
    variables = dict(variables)
    if "params" not in variables:
        variables = {"params": variables}
    other = sorted(set(variables) - {"params", "batch_stats"})
    if other:
        raise SketchjaxError(f"{name}: collections other than params and batch_stats are not "
                             f"supported: {', '.join(other)}")
    takes_train = "train" in inspect.signature(module.__call__).parameters
    kwargs = {"train": False} if takes_train else {}

    def inference(params, batch_stats, x):
        collections = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
        return module.apply(collections, x, **kwargs)

    # Linen takes the params back as plain dicts with string keys: no restoring needed.
    params, stats = (trees.unflatten(trees.paths_of(variables.get(c, {})))
                     for c in ("params", "batch_stats"))
    return _bundle(name, module, params, stats, input_shape, inference)


def from_nnx(model, input_shape: Sequence[int], *, name: str = "nnx") -> ModelBundle:
    """An nnx module: its `nnx.Param` variables are the params; everything else (BatchNorm
    statistics, RNG state) is held fixed, and the model runs in evaluation mode.

    Args:
      model: any `flax.nnx.Module` (nnx.Sequential's integer keys become "0", "1", ...).
      input_shape: one example's shape, without the batch axis.
      name: what the mask's metadata names the model.
    """
    from flax import nnx
    graphdef, state, rest = nnx.split(model, nnx.Param, ...)
    params, restore = _restorer(state)

    def inference(params, batch_stats, x):
        del batch_stats
        copy = nnx.merge(graphdef, restore(params), rest)
        copy.eval()
        return copy(x)

    return _bundle(name, None, params, {}, input_shape, inference)


def from_function(apply_fn: Callable[[Any, jax.Array], jax.Array], params: Any,
                  input_shape: Sequence[int], *, name: str = "function") -> ModelBundle:
    """A plain function `apply_fn(params, x) -> outputs` and its params, any pytree.

    Args:
      apply_fn: the model in inference mode.
      params: its parameters (dicts, lists, tuples; a leaf's path is its keys and indices).
      input_shape: one example's shape, without the batch axis.
      name: what the mask's metadata names the model.
    """
    flat, restore = _restorer(params)

    def inference(params, batch_stats, x):
        del batch_stats
        return apply_fn(restore(params), x)

    return _bundle(name, None, flat, {}, input_shape, inference)
