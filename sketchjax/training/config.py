"""The training recipe: `TrainConfig` and the named presets.

The paper's recipe (= OpenLTH's CIFAR defaults; docs/methods.md, "Training recipes") is
`TrainConfig()`: SGD with momentum 0.9, weight decay 1e-4 on every parameter (added to the
gradient, as PyTorch does), lr 0.1 divided by 10 at epochs 80 and 120, 160 epochs, batch 128.
`PRESETS["lenet"]` is the lottery-ticket LeNet protocol (Adam, lr 1.2e-3, batch 60, 50 epochs,
no decay). Which preset a model gets by default is the model registry's policy
(`ModelSpec.preset`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from sketchjax import names
from sketchjax.errors import SketchjaxError, check_choice, check_int

# Fields that may differ when a run is resumed (they do not change the trajectory).
RESUMABLE_CHANGES = ("epochs", "eval_every", "eval_batch_size", "log_every",
                     "checkpoint_every", "keep_checkpoints")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train. Defaults are the paper's recipe; every value can be overridden.

    Attributes:
      optimizer: "sgd" (momentum, optional nesterov) or "adam" (PyTorch's Adam: L2 decay
        added to the gradient, eps outside the square root).
      lr: initial learning rate.
      momentum: SGD momentum (0 = plain SGD).
      nesterov: Nesterov momentum (PyTorch semantics; optax's are the same).
      adam_b1, adam_b2, adam_eps: Adam's constants.
      weight_decay: L2 coefficient added to the gradient of every parameter (BN and biases
        included, as the reference).
      milestones: epochs at which the lr is multiplied by `gamma`.
      gamma: the lr factor at each milestone.
      epochs: length of the run in epochs (steps per epoch = train examples // batch).
      batch_size: global batch size (split over the devices).
      augment: the dataset's training augmentation (crop + flip on CIFAR/Tiny-ImageNet).
      mask_mode: "binary" (train the support of the mask from the initial weights) or
        "scaled" (initial weights multiplied by the mask values, then the support trained).
      eval_every: evaluate on the test split every this many epochs (0 = only at the end;
        the last epoch is always evaluated).
      eval_batch_size: evaluation batch (the last one is padded, so one compilation).
      log_every: steps between host syncs for the progress bar (the only syncs inside an
        epoch).
      checkpoint_every: epochs between checkpoints (0 = none; needs an output folder).
      keep_checkpoints: how many checkpoints are kept.
    """
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (80, 120)
    gamma: float = 0.1
    epochs: int = 160
    batch_size: int = 128
    augment: bool = True
    mask_mode: str = "binary"
    eval_every: int = 1
    eval_batch_size: int = 1000
    log_every: int = 100
    checkpoint_every: int = 1
    keep_checkpoints: int = 2

    def validate(self) -> "TrainConfig":
        """Raise SketchjaxError on any value outside its range; returns self."""
        check_choice(self.optimizer, names.OPTIMIZERS, "optimizer")
        check_choice(self.mask_mode, names.MASK_MODES, "mask mode")
        for name in ("lr", "gamma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise SketchjaxError(f"{name} must be a positive number, got {value!r}")
        if not (0 <= self.momentum < 1):
            raise SketchjaxError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise SketchjaxError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise SketchjaxError("nesterov needs the sgd optimizer with momentum > 0")
        for name, minimum in (("epochs", 1), ("batch_size", 1), ("eval_every", 0),
                              ("eval_batch_size", 1), ("log_every", 1),
                              ("checkpoint_every", 0), ("keep_checkpoints", 1)):
            check_int(getattr(self, name), name, minimum)
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in self.milestones):
            raise SketchjaxError(f"milestones must be positive epoch numbers, got "
                                 f"{self.milestones!r}")
        return self

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (milestones given as any sequence)."""
        if "milestones" in changes:
            changes["milestones"] = tuple(int(m) for m in changes["milestones"])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d


PRESETS: dict[str, TrainConfig] = {
    # The paper (= OpenLTH's CIFAR defaults).
    "paper": TrainConfig(),
    # Frankle & Carbin's LeNet-300-100 protocol: Adam 1.2e-3, batch 60, 50K iterations on
    # MNIST (50 epochs); no weight decay, no lr drops (ours: the paper gives none for LeNet).
    "lenet": TrainConfig(optimizer="adam", lr=1.2e-3, batch_size=60, weight_decay=0.0,
                         milestones=(), epochs=50),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A named preset ("paper" | "lenet") with some fields overridden."""
    check_choice(name, names.PRESETS, "preset")
    return PRESETS[name].replace(**overrides)


assert tuple(PRESETS) == names.PRESETS, "sketchjax.names.PRESETS and PRESETS disagree"
