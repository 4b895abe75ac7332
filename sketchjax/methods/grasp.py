"""GraSP: theta * (H g), signed; the largest are kept (the reference removes the largest
-theta * Hg)."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from sketchjax.methods.base import DataScored, ScoreInputs, SignedScores, option
from sketchjax.methods.registry import register

GRASP_TEMPERATURE = 200.0


@register
@dataclasses.dataclass(frozen=True)
class GraSP(SignedScores, DataScored):
    """Gradient signal preservation.

    Attributes:
      temperature: the logits are divided by it (the reference: 200).
    """
    name: ClassVar[str] = "grasp"
    temperature: float = option(GRASP_TEMPERATURE, "GraSP's logits are divided by it",
                                flag="--grasp-temperature")

    def data_score(self, x: ScoreInputs, images, labels):
        from sketchjax import scorers
        return scorers.grasp_scores(x.apply_fn, x.params, x.batch_stats, images, labels,
                                    self.temperature, x.prunable)

    def inputs_record(self, scaled: bool) -> dict[str, Any]:
        return dict(super().inputs_record(scaled), temperature=self.temperature)
