"""How the kept weights are shared among layers: the sparsity distributions.

- global: one ranking over all prunable weights decides (the hard threshold's allocation, or
  the paper's own: Algorithm 1 over the whole vector, `layerwise_sample` with the threshold's
  per-layer counts); no per-layer budget.
- uniform: every layer keeps `kept_count(n_l, d)`.
- erk (Erdős-Rényi-Kernel, Evci et al. 2020, as in RigL and jaxpruner): layer l keeps a
  fraction eps * (sum of its kernel's dimensions) / (product of them), eps chosen so that the
  layers keep `kept_count(N, d)` in all; a layer that this would make denser than 1 is dense,
  and eps is solved again over the others. The real-valued counts are rounded by largest
  remainder, so the total is exact and every layer is within 1 of its share.

`layer_density` overrides name layers by fnmatch patterns on their paths; each such layer
keeps `kept_count(n_l, d_l)` and the distribution shares what remains among the others. The
selections then work inside each layer's budget (`sketch.select_flat(layer_counts=...)`).
Imports no jax.
"""
from __future__ import annotations

import fnmatch
import math
from typing import Mapping, Optional, Sequence

from sketchjax.counts import kept_count
from sketchjax.errors import SketchjaxError
from sketchjax.names import DISTRIBUTIONS


def erk_weight(shape: Sequence[int]) -> float:
    """ERK's per-layer factor: (sum of the kernel's dimensions) / (their product)."""
    return sum(shape) / math.prod(shape)


def overridden(paths: Sequence[str], layer_density: Sequence[tuple[str, float]]
               ) -> dict[str, float]:
    """{path: density} of the layers an override names (the first matching pattern wins).

    Raises:
      SketchjaxError: a pattern that matches no layer.
    """
    out: dict[str, float] = {}
    for pattern, density in layer_density:
        hits = [p for p in paths if fnmatch.fnmatchcase(p, pattern)]
        if not hits:
            raise SketchjaxError(f"layer density {pattern!r} matches no prunable layer; they "
                                 f"are: {', '.join(paths[:8])}")
        for p in hits:
            out.setdefault(p, float(density))
    return out


def _largest_remainder(raw: Mapping[str, float], total: int) -> dict[str, int]:
    """Integers summing to `total`, each the floor of its raw value or one more (the largest
    fractional parts first; ties by path)."""
    counts = {p: math.floor(v) for p, v in raw.items()}
    short = total - sum(counts.values())
    for p in sorted(raw, key=lambda p: (-(raw[p] - counts[p]), p))[:max(short, 0)]:
        counts[p] += 1
    return counts


def erk_counts(shapes: Mapping[str, Sequence[int]], total: int) -> dict[str, int]:
    """ERK's kept count per layer, `total` in all (see the module docstring)."""
    sizes = {p: math.prod(s) for p, s in shapes.items()}
    if total >= sum(sizes.values()):
        return dict(sizes)
    dense: set[str] = set()
    while True:
        rest = [p for p in shapes if p not in dense]
        budget = total - sum(sizes[p] for p in dense)
        eps = budget / sum(erk_weight(shapes[p]) * sizes[p] for p in rest)
        newly = {p for p in rest if eps * erk_weight(shapes[p]) >= 1}
        if not newly:
            break
        dense |= newly
    raw = {p: eps * erk_weight(shapes[p]) * sizes[p] for p in rest}
    return {**{p: sizes[p] for p in dense}, **_largest_remainder(raw, budget)}


def layer_counts(distribution: str, shapes: Mapping[str, Sequence[int]], density: float,
                 layer_density: Sequence[tuple[str, float]] = ()) -> Optional[dict[str, int]]:
    """Kept weights per layer under a distribution; None for "global" (one ranking decides).

    Args:
      distribution: one of DISTRIBUTIONS.
      shapes: {path: shape} of the prunable layers.
      density: the target density d (of the layers no override names).
      layer_density: (fnmatch pattern, density) overrides; not with "global".
    Returns:
      {path: kept count}, each in [0, n_l].
    """
    if distribution not in DISTRIBUTIONS:
        raise SketchjaxError(f"unknown distribution {distribution!r}; valid: "
                             f"{', '.join(DISTRIBUTIONS)}")
    if distribution == "global":
        if layer_density:
            raise SketchjaxError("per-layer densities need a per-layer distribution "
                                 "(uniform or erk), not global")
        return None
    paths = list(shapes)
    fixed = {p: kept_count(math.prod(shapes[p]), d)
             for p, d in overridden(paths, layer_density).items()}
    rest = {p: tuple(shapes[p]) for p in paths if p not in fixed}
    if distribution == "uniform":
        shared = {p: kept_count(math.prod(s), density) for p, s in rest.items()}
    else:
        total = kept_count(sum(math.prod(s) for s in rest.values()), density)
        shared = erk_counts(rest, total) if rest else {}
    return {p: (fixed[p] if p in fixed else shared[p]) for p in paths}
