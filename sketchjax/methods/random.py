"""Random: i.i.d. N(0, 1) scores, so the global top-k is a uniform random subset."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from sketchjax.methods.base import OneShot, ScoreInputs, SignedScores
from sketchjax.methods.registry import register


@register
@dataclasses.dataclass(frozen=True)
class Random(SignedScores, OneShot):
    """A uniform random mask (under a randomized selection, the signed scores are sampled
    by `signed_weighting`)."""
    name: ClassVar[str] = "random"

    def score(self, x: ScoreInputs):
        from sketchjax import scorers
        return scorers.random_scores(x.params, x.key, x.prunable)
