"""The one rule for how many weights a density keeps.

The reference prunes k = int((1 - d) * N) weights and keeps the rest, i.e. it keeps ceil(d N).
Here that is computed in exact rational arithmetic on the decimal the density was written as
(`repr` of the float, e.g. 0.55 = 11/20): the reference's float64 product can fall just below
an integer ((1 - 0.55) * 43000 = 19349.999..., keeping 23,651 instead of 23,650).

Every count in the library comes from `kept_count`: the hard threshold of every round, the
per-layer counts of `layerwise_sample` (through the threshold), the draws s of Algorithm 1, the
IMP target and the post-check of a finished mask. Selections take a count, never a density, so
no count is ever turned into a density and back.
"""
from __future__ import annotations

import math
import numbers
from fractions import Fraction


def kept_count(n: int, density: float) -> int:
    """Weights kept out of n at `density`: ceil(d n) = n - floor((1 - d) n), exactly.

    Args:
      n: number of weights (>= 0).
      density: fraction kept, in [0, 1]; taken as the decimal its repr shows.
    Returns:
      an int in [0, n].
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    density = float(density)
    if not (math.isfinite(density) and 0.0 <= density <= 1.0):
        raise ValueError(f"density must be in [0, 1], got {density!r}")
    return math.ceil(Fraction(repr(density)) * int(n))
