"""Magnitude: |theta| at initialization."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from sketchjax.methods.base import OneShot, ScoreInputs
from sketchjax.methods.registry import register


@register
@dataclasses.dataclass(frozen=True)
class Magnitude(OneShot):
    """Keep the largest |theta_0|."""
    name: ClassVar[str] = "magnitude"

    def score(self, x: ScoreInputs):
        from sketchjax import scorers
        return scorers.magnitude_scores(x.params, x.prunable)
