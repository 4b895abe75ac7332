"""Pytree conventions: "/"-joined paths, the prunable filter, global concat/split.

Params are nested dicts. A leaf's path is its keys joined by "/". Masks and score trees
for selection hold only the prunable leaves, with the params' nesting. Global operations
concatenate the prunable leaves in sorted path order and split back.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

PyTree = Any

SEP = "/"


def flatten(tree: Mapping) -> dict[str, Any]:
    """Nested dict -> {"a/b/kernel": leaf}, keys in sorted order."""
    flat = traverse_util.flatten_dict(dict(tree), sep=SEP) if tree else {}
    return {path: flat[path] for path in sorted(flat)}


def unflatten(flat: Mapping[str, Any]) -> dict:
    """{"a/b/kernel": leaf} -> nested dict."""
    return traverse_util.unflatten_dict(dict(flat), sep=SEP) if flat else {}


def is_prunable(path: str, leaf: Any) -> bool:
    """The kernel of every Conv and Dense layer; never biases, BN scale/bias or statistics."""
    return path.split(SEP)[-1] == "kernel" and np.ndim(leaf) >= 2


def prunable_paths(params: Mapping) -> list[str]:
    """Sorted paths of the prunable leaves."""
    return [p for p, leaf in flatten(params).items() if is_prunable(p, leaf)]


def prunable(tree: Mapping) -> dict:
    """The sub-tree of prunable leaves, same nesting as `tree`."""
    return unflatten({p: l for p, l in flatten(tree).items() if is_prunable(p, l)})


def natural_key(path: str) -> list:
    """Sort key that orders "Conv_2" before "Conv_10" (for people; the concatenation order of
    global operations stays the plain sorted order)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def ones_mask(params: Mapping, dtype=jnp.float32) -> dict:
    """The dense mask: ones shaped like every prunable leaf."""
    return jax.tree.map(lambda leaf: jnp.ones(leaf.shape, dtype), prunable(params))


def apply_mask(params: Mapping, mask: Mapping) -> dict:
    """params with each prunable leaf multiplied by its mask; other leaves untouched."""
    flat_mask = flatten(mask)
    return unflatten({p: leaf * flat_mask[p].astype(leaf.dtype) if p in flat_mask else leaf
                      for p, leaf in flatten(params).items()})


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
