"""Pytree conventions: "/"-joined paths, the prunable rule, global concat/split.

A leaf's path is its keys joined by "/": dict keys, sequence indices ("layers/0/kernel" in an
nnx.Sequential) and attribute names, with nnx's `.value` left out, so a flax linen params dict,
its nnx.State and the pure dict of that state give one leaf one path. Masks and score trees
hold only the prunable leaves, as nested dicts with string keys. Global operations concatenate
the prunable leaves in sorted path order and split back.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np

from sketchjax.errors import SketchjaxError

PyTree = Any
PrunableRule = Callable[[str, Any], bool]   # (path, leaf) -> prune it?

SEP = "/"


def flatten(tree: Mapping) -> dict[str, Any]:
    """Nested mappings -> {"a/b/kernel": leaf}, keys in sorted order (integer keys, such as
    nnx.Sequential's layers, as their decimal text; empty mappings dropped)."""
    flat: dict[str, Any] = {}

    def walk(node: Mapping, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}{SEP}")
            else:
                flat[f"{prefix}{key}"] = value
    walk(tree, "")
    return {path: flat[path] for path in sorted(flat)}


def unflatten(flat: Mapping[str, Any]) -> dict:
    """{"a/b/kernel": leaf} -> nested dict (string keys)."""
    tree: dict = {}
    for path, leaf in flat.items():
        *parents, last = path.split(SEP)
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = leaf
    return tree


def _key_text(key) -> Optional[str]:
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def key_path(keys) -> str:
    """A jax key path (`jax.tree_util.tree_flatten_with_path`) as a "/"-joined path; a last
    `.value` (an nnx Variable's) is left out."""
    texts = [_key_text(k) for k in keys]
    if texts and texts[-1] == "value" and type(keys[-1]).__name__ == "GetAttrKey":
        texts = texts[:-1]
    return SEP.join(texts)


def paths_of(tree: PyTree) -> dict[str, Any]:
    """Any pytree (dicts, FrozenDict, nnx.State, lists) -> {path: leaf}, sorted by path.

    Raises:
      SketchjaxError: two leaves with one path ({"a": {"b": x}} beside {"a/b": y}).
    """
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    flat = {key_path(keys): leaf for keys, leaf in leaves}
    if len(flat) != len(leaves):
        raise SketchjaxError("two leaves of the params have the same path (a key holding "
                             f"'{SEP}' names the same leaf as nested keys)")
    return {path: flat[path] for path in sorted(flat)}


def is_prunable(path: str, leaf: Any) -> bool:
    """The default rule: the kernel of every Conv and Dense layer (a leaf named "kernel" with
    at least 2 dimensions); never biases, BN scale/bias or statistics."""
    return path.split(SEP)[-1] == "kernel" and np.ndim(leaf) >= 2


def prunable_paths(params: PyTree, rule: Optional[PrunableRule] = None) -> list[str]:
    """Sorted paths of the prunable leaves (`rule`, default `is_prunable`)."""
    rule = rule or is_prunable
    return [p for p, leaf in paths_of(params).items() if rule(p, leaf)]


def prunable(tree: PyTree, rule: Optional[PrunableRule] = None) -> dict:
    """The prunable leaves (`rule`, default `is_prunable`) as a nested dict by path."""
    rule = rule or is_prunable
    return unflatten({p: l for p, l in paths_of(tree).items() if rule(p, l)})


def natural_key(path: str) -> list:
    """Sort key that orders "Conv_2" before "Conv_10" (for people; the concatenation order of
    global operations stays the plain sorted order)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def ones_mask(params: Mapping, dtype=jnp.float32) -> dict:
    """The dense mask: ones shaped like every prunable leaf."""
    return jax.tree.map(lambda leaf: jnp.ones(leaf.shape, dtype), prunable(params))


def check_paths(flat_mask: Mapping[str, Any], params: PyTree) -> None:
    """Every path of the mask must be a leaf of params (one error naming the first few)."""
    missing = sorted(set(flat_mask) - set(paths_of(params)))
    if missing:
        raise SketchjaxError(f"mask paths not in the params: {', '.join(missing[:5])}"
                             + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
                             + f"; the params' paths: {', '.join(list(paths_of(params))[:5])}")


def apply_mask(params: PyTree, mask: Mapping) -> PyTree:
    """params with each leaf the mask names multiplied by its mask entry; other leaves, and
    the tree's own type (dict, FrozenDict, nnx.State), unchanged.

    Args:
      params: any pytree of arrays.
      mask: a tree over some of the params' leaves, by path: a nested dict, {path: array}, or
        a tree of the params' own structure (`Mask.binary(like=params)`).
    Raises:
      SketchjaxError: a mask path that is not a leaf of params.
    """
    flat_mask = paths_of(mask)
    check_paths(flat_mask, params)

    def masked(keys, leaf):
        m = flat_mask.get(key_path(keys))
        return leaf if m is None else leaf * jnp.asarray(m).astype(leaf.dtype)
    return jax.tree_util.tree_map_with_path(masked, params)


def sizes(tree: Mapping) -> tuple[int, ...]:
    """Number of elements of each leaf, in sorted path order."""
    return tuple(int(np.prod(np.shape(leaf))) for leaf in flatten(tree).values())


def concat(tree: Mapping) -> jax.Array:
    """All leaves raveled and concatenated in sorted path order -> 1-D array."""
    return jnp.concatenate([jnp.ravel(leaf) for leaf in flatten(tree).values()])


def split(vector: jax.Array, template: Mapping) -> dict:
    """Inverse of `concat`: cut `vector` into leaves shaped like `template`'s."""
    flat = flatten(template)
    offsets = np.cumsum((0,) + sizes(template))
    return unflatten({path: jnp.reshape(vector[offsets[i]:offsets[i + 1]], np.shape(leaf))
                      for i, (path, leaf) in enumerate(flat.items())})


def count_params(tree: Mapping) -> int:
    """Total number of scalars in a tree."""
    return int(sum(sizes(tree)))
