"""IMP: iterative magnitude pruning with rewinding (the lottery-ticket search).

The options live here (jax-free); the search itself is `sketchjax.imp.run_imp`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Optional

from sketchjax import names
from sketchjax.errors import SketchjaxError, check_int
from sketchjax.methods.base import Method, option
from sketchjax.methods.registry import register


def ticket_start(data: str) -> str:
    """Where the final network of an IMP search on `data` trains from.

    "rewind": theta_K at step K, the lottery-ticket procedure (real data). "init": theta_0 at
    step 0, for a mask found on random data and then trained on real data, as the paper's
    authors transfer masks in their fork of OpenLTH (lottery/branch/cross_domain.py trains a
    level's mask from the state at '0ep', step 0); theta_K of a random-data search was
    trained on noise.
    """
    return "rewind" if data == "real" else "init"


@register
@dataclasses.dataclass(frozen=True)
class IMP(Method):
    """An IMP search.

    Attributes:
      rate: fraction of the remaining weights pruned per level (OpenLTH: 0.2).
      output_rate: with output_layer "prune", the classifier's own rate (LeNet: 0.1); None =
        the classifier is pruned with the other layers, globally, at `rate`.
      rewind_iters: K, the rewind step; None = the model's (`ModelSpec.rewind_step`).
      epochs: training epochs per level (the whole run, K included); None = train.epochs.
      output_layer: "prune" | "ignore"; None = the model's (`ModelSpec.imp_output_layer`).
      exact_final: prune the last level to the target density exactly instead of stopping
        at the first level at or below it.
      data: "real", "normal" or "normal_fixed" (random data for the whole search).
      selection: "threshold" (global magnitude) or "layerwise_sample".
      train: the recipe (a `TrainConfig`) of the pretraining and of every level; None = the
        model's preset.
    """
    name: ClassVar[str] = "imp"
    rate: float = option(0.2, "fraction of the remaining weights pruned per level",
                         flag="--imp-rate")
    output_rate: Optional[float] = option(
        None, "the classifier's own rate (with --output-layer prune; LeNet: 0.1)",
        flag="--imp-output-rate")
    rewind_iters: Optional[int] = option(
        None, "rewind step K (default: the model's: vgg19 1000, resnet20 cifar10 2000 / "
        "cifar100 6000, else 0)")
    epochs: Optional[int] = option(None, "epochs per level (default: the model's training "
                                   "preset)", flag="--imp-epochs")
    output_layer: Optional[str] = option(
        None, "prune the classifier or leave it dense (default: the model's)",
        choices=(None,) + names.OUTPUT_LAYER_MODES)
    exact_final: bool = option(False, "prune the last level to the target density exactly",
                               flag="--imp-exact-final")
    data: str = option("real", "training data of the search: the training set, fresh noise, "
                       "or a fixed random set", choices=names.TRAIN_DATA)
    selection: str = option("threshold", "global magnitude threshold or the paper's "
                            "per-layer randomized mask", choices=names.IMP_SELECTIONS)
    train: Any = option(None, "the training recipe of every level", cli=False)

    def validated(self, model: str, dataset: str) -> "IMP":
        """Defaults filled in from the model registry, and every value checked."""
        from sketchjax.models.registry import model_spec
        from sketchjax.training.config import preset
        spec = model_spec(model)
        recipe = self.train if self.train is not None else preset(spec.preset)
        epochs = recipe.epochs if self.epochs is None else self.epochs
        config = dataclasses.replace(
            self, rewind_iters=(spec.rewind_step(dataset) if self.rewind_iters is None
                                else self.rewind_iters),
            output_layer=self.output_layer or spec.imp_output_layer, epochs=epochs,
            train=recipe.replace(epochs=epochs))
        Method.validated(config, model, dataset)
        for name in ("rate", "output_rate"):
            value = getattr(config, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < 1):
                raise SketchjaxError(f"IMP {name} must be in (0, 1), got {value}")
        if config.output_rate is not None and config.output_layer != "prune":
            raise SketchjaxError("an output-layer rate needs output_layer 'prune'")
        check_int(config.rewind_iters, "rewind iterations", 0)
        config.train.validate()
        return config

    def record(self) -> dict[str, Any]:
        """The options as a JSON-able dict (the recipe as a dict)."""
        record = super().record()
        record["train"] = self.train.to_dict() if self.train is not None else None
        return record

    def name_parts(self) -> list[str]:
        return [self.name, self.data, self.selection]

    @property
    def shared_record(self) -> dict[str, Any]:
        """What the levels depend on: the record without the target density, which only says
        where to stop (and, with `exact_final`, names the last level's own file)."""
        record = self.record()
        del record["density"]
        return record

    @property
    def ticket_start(self) -> str:
        return ticket_start(self.data)

    def compute(self, model, dataset, num_classes, path, *, data_dir=None, progress=True,
                log=print):
        from sketchjax.imp import run_imp, search_name
        from sketchjax.masks import Mask
        # One search folder per search, beside the mask file, shared by its target densities.
        workdir = Path(path).parent / search_name(model, dataset, self)
        mask = run_imp(model, dataset, self, workdir, data_dir=data_dir,
                       num_classes=num_classes, progress=progress, log=log).mask
        rewind = mask.metadata.get("rewind")
        if rewind is None:
            return mask
        # The levels name their rewind point relative to the search folder; this mask lies
        # beside it.
        return Mask(mask.arrays, dict(mask.metadata, rewind=dict(
            rewind, file=f"{workdir.name}/{rewind['file']}")))
