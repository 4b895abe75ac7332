"""SynFlow: |theta| * dR/d|theta|, R the output sum of the net on |params| (100 rounds)."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from sketchjax import names
from sketchjax.methods.base import OneShot, ScoreInputs, option
from sketchjax.methods.registry import register


@register
@dataclasses.dataclass(frozen=True)
class SynFlow(OneShot):
    """Iterative synaptic flow.

    Attributes:
      input: "ones" (the reference) or "chi" (the paper: ||z|| / sqrt(128), fresh every round).
      input_scaling: scale the input so that R stays near 1 (the ranking is the unscaled
        one); off by itself when the net is not linear in its input.
    """
    name: ClassVar[str] = "synflow"
    default_rounds: ClassVar[int] = 100
    input: str = option("ones", "SynFlow input ||z||/sqrt(128), z ~ N(0, I), fresh every "
                        "round (the paper); default: all ones", choices=names.SYNFLOW_INPUTS,
                        flag="--chi-input", const="chi")
    input_scaling: bool = option(True, "keep R near 1 by scaling the input", cli=False)

    def option_parts(self) -> list[str]:
        return [self.name] + ([self.input] if self.input != "ones" else [])

    def compiled(self) -> "SynFlow":
        # The scaling is decided outside the round (its scale is an argument).
        return dataclasses.replace(super().compiled(), input_scaling=True)

    def score(self, x: ScoreInputs):
        return self.score_and_total(x)[0]

    def score_and_total(self, x: ScoreInputs):
        from sketchjax import inputs, scorers
        z = inputs.synflow_input(self.input, x.key, x.input_shape) * x.input_scale
        return scorers.synflow_scores_and_total(x.apply_fn, x.params, x.batch_stats, z,
                                                x.prunable)

    def input_scale(self, bundle, key):
        from sketchjax.pruning import linear_in_input, synflow_input_scale
        if not (self.input_scaling and linear_in_input(bundle.params, bundle.batch_stats)):
            return None
        return synflow_input_scale(self.input, bundle, key)

    def inputs_record(self, scaled: bool) -> dict[str, Any]:
        from sketchjax import inputs
        return {"synflow_input": self.input,
                "chi_dim": inputs.CHI_DIM if self.input == "chi" else None,
                "input_scaled_to_unit_output": scaled}
