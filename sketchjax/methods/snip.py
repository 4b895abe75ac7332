"""SNIP: |theta * g| at mask = 1, g the loss gradient summed over the prune batches."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from sketchjax import names
from sketchjax.methods.base import DataScored, ScoreInputs, option
from sketchjax.methods.registry import register


@register
@dataclasses.dataclass(frozen=True)
class SNIP(DataScored):
    """Connection sensitivity.

    Attributes:
      loss: cross_entropy, or l1 = sum_c |f_c(x) - onehot(y)_c| (Sec. 6 of the paper).
    """
    name: ClassVar[str] = "snip"
    loss: str = option("cross_entropy", "SNIP's loss", choices=names.SNIP_LOSSES,
                       flag="--snip-loss")

    def data_score(self, x: ScoreInputs, images, labels):
        from sketchjax import scorers
        return scorers.snip_scores(x.apply_fn, x.params, x.batch_stats, images, labels,
                                   self.loss, x.prunable)

    def inputs_record(self, scaled: bool) -> dict[str, Any]:
        return dict(super().inputs_record(scaled), loss=self.loss)
