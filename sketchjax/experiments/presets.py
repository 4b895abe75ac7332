"""One typed preset per table and figure and scale: what to prune, what to train, how often.

A table is a grid of `Column`s (the paper's columns, each a named pruning config) over
settings (model, dataset), densities and seeds, with one training recipe per setting. A run is
one cell of one seed; everything it depends on is in its `RunSpec` (`experiments.runs`), never the
column's name, so a column that two tables share (Table 1's and Table 4's "SNIP + sparse data +
rand. mask") is run once.

Scales:
- `paper`: the paper's protocol to the letter (Sec. 8; docs/methods.md): VGG-19 (BN) and ResNet-20
  on CIFAR-10/100, ResNet-18 and WRN-18 on Tiny-ImageNet, densities 10/5/2%, 3 seeds, the SGD
  recipe (160 epochs), SynFlow 100 rounds, prune batches of 256, IMP with the paper's rewind
  steps and the full recipe per level, random data = N(0, 1) in normalised input space.
- `cpu`: offline, the same columns and layout on LeNet-300-100 / MNIST-1D (the package's
  generator with 20,000 samples: 16,000 train / 4,000 test), 5 seeds, densities 10/5/2% and 1%
  beside them (never pooled into a verdict), the
  LeNet recipe (Adam 1.2e-3, batch 60) for 30 epochs, IMP 10 epochs per level.
- `cpu-conv`: ResNet-20 (BN, shortcuts) on scikit-learn's 8x8 digits for Tables 1 and 2 and
  the GraSP sensitivity table, one density (5%), 3 seeds, SGD 15 epochs, IMP 3 epochs per level.

Every scale's IMP columns prune the classifier and land exactly on the other columns' kept count
(`IMP_SAME_DENSITY`); `table2_grasp` is ours: Table 2's randomized GraSP under each signed-score
weighting.
- `cpu-fmnist`: LeNet-300-100 on Fashion-MNIST (real images, offline from Debian's
  `dataset-fashion-mnist`), Tables 1-4, 10/5/2% and 1% beside, 5 seeds, the LeNet recipe for 10
  epochs (a measured pilot), IMP 5 epochs per level and at 10/5/2% only (the budget); Fig. 2 at
  the paper's protocol.
- `smoke`: every column of every table and figure, 1 seed, one density, 1 epoch (CI).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from sketchjax import methods

SCALES = ("smoke", "cpu", "cpu-fmnist", "cpu-conv", "paper")
TABLES = ("table1", "table2", "table3", "table4", "table2_grasp")
FIGURES = ("fig1a", "fig1b", "fig2")
TARGETS = TABLES + FIGURES


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of a table: a named way to get a mask.

    Attributes:
      name: as printed in the paper.
      method: a scorer, "imp", or "dense" (no pruning).
      options: the method's options (`sketchjax.methods`) besides density and seed, e.g.
        {"selection": "layerwise_sample", "input": "chi"}.
      twin: the column this one is compared with (the deterministic twin of a randomized one).
    """
    name: str
    method: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    twin: Optional[str] = None


DENSE = Column("Dense", "dense")
RAND = {"selection": "layerwise_sample"}
TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {
    "table1": (
        Column("SynFlow", "synflow"),
        Column("SynFlow + chi", "synflow", {"input": "chi"}),
        Column("SynFlow + rand. mask", "synflow", RAND, twin="SynFlow"),
        Column("SynFlow + rand. mask + chi", "synflow", {**RAND, "input": "chi"},
               twin="SynFlow + chi"),
        Column("SNIP + normal data", "snip", {"data": "normal"}),
        Column("SNIP + rand. mask + normal data", "snip", {**RAND, "data": "normal"},
               twin="SNIP + normal data"),
        Column("SNIP + sparse data", "snip", {"data": "sparse"}),
        Column("SNIP + sparse data + rand. mask", "snip", {**RAND, "data": "sparse"},
               twin="SNIP + sparse data"),
    ),
    "table2": (
        Column("Random", "random"),
        Column("Magnitude", "magnitude"),
        Column("GraSP (supervised)", "grasp", {"data": "real"}),
        Column("GraSP + normal data", "grasp", {"data": "normal"}),
        Column("GraSP + normal data + rand. mask", "grasp", {**RAND, "data": "normal"},
               twin="GraSP + normal data"),
        Column("IMP (supervised)", "imp", {"data": "real"}),
        Column("IMP + rand. data", "imp", {"data": "normal_fixed"}),
        Column("IMP + rand. data + rand. mask", "imp", {**RAND, "data": "normal_fixed"},
               twin="IMP + rand. data"),
    ),
    "table3": (
        Column("SynFlow", "synflow"),
        Column("SynFlow + rand. mask", "synflow", RAND, twin="SynFlow"),
    ),
    "table4": (
        Column("SNIP (supervised)", "snip", {"data": "real"}),
        Column("SNIP + sparse data + rand. mask", "snip", {**RAND, "data": "sparse"},
               twin="SNIP (supervised)"),
    ),
    # How randomized GraSP turns its signed scores into sampling weights (ours): the default
    # max(score, 0) is Table 2's column; the two alternatives beside it.
    "table2_grasp": (
        Column("GraSP + normal data", "grasp", {"data": "normal"}),
        Column("GraSP + normal data + rand. mask", "grasp", {**RAND, "data": "normal"},
               twin="GraSP + normal data"),
        Column("GraSP + normal data + rand. mask (shift)", "grasp",
               {**RAND, "data": "normal", "signed_weighting": "shift"},
               twin="GraSP + normal data"),
        Column("GraSP + normal data + rand. mask (rank)", "grasp",
               {**RAND, "data": "normal", "signed_weighting": "rank"},
               twin="GraSP + normal data"),
    ),
}
TITLES = {
    "table1": "Table 1: SynFlow with the chi input and mask randomization; SNIP with normal "
              "and sparse random data and mask randomization",
    "table2": "Table 2: Random, Magnitude, GraSP and IMP with random data and mask "
              "randomization",
    "table3": "Table 3: SynFlow and mask randomization",
    "table4": "Table 4 (Appendix A): supervised SNIP vs SNIP with sparse data and mask "
              "randomization",
    "table2_grasp": "Table 2's randomized GraSP: sampling weights max(score, 0) (the default), "
                    "score - layer min (shift), rank in the layer (rank)",
}
# Every IMP column of the tables prunes the classifier with the other layers and prunes its
# last level to the target exactly, so its density is kept_count(N, d) of the same N weights
# every other column prunes (OpenLTH's LeNet and VGG leave the classifier dense and stop at
# the first level at or below the target: their densities would differ).
IMP_SAME_DENSITY = {"output_layer": "prune", "exact_final": True}


@dataclasses.dataclass(frozen=True)
class Scale:
    """How big everything is at one scale.

    Attributes:
      name: one of SCALES.
      settings: per table, the (model, dataset) blocks of its rows.
      densities: the densities of every table.
      seeds: runs per cell.
      recipe: per model, the training recipe: a preset name and TrainConfig changes.
      iterative_rounds: the rounds of iterative one-shot methods (SynFlow); prune_batch_size:
        the prune batch of data scorers.
      imp: IMP options at this scale (epochs per level, rewind steps ...).
      imp_densities: the densities of the IMP columns where the budget allows fewer than the
        others (None: all of `densities`).
      checkpoint: keep orbax checkpoints of training runs (hours-long runs resume).
      fig_settings: per figure, (model, dataset, density).
      fig2_imp: the Fig. 2 IMP protocol (IMP options) at this scale.
      fig2_random_masks: random masks per layer in Fig. 2(b); fig2_curve_masks: per level in 2(a).
      fig1b_seeds: seeds of Fig. 1b (None: the scale's; each seed prunes VGG-19 twice at
        cpu scale).
    """
    name: str
    settings: Mapping[str, tuple[tuple[str, str], ...]]
    densities: tuple[float, ...]
    seeds: int
    recipe: Mapping[str, tuple[str, Mapping[str, Any]]]
    iterative_rounds: int = 100
    prune_batch_size: int = 256
    imp: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    imp_densities: Optional[tuple[float, ...]] = None
    checkpoint: bool = False
    fig_settings: Mapping[str, tuple[str, str, float]] = dataclasses.field(default_factory=dict)
    fig2_imp: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    fig2_random_masks: int = 10_000
    fig2_curve_masks: int = 1_000
    fig1b_seeds: Optional[int] = None


_LENET = ("lenet", {"epochs": 30, "eval_every": 0, "checkpoint_every": 0})
_FIG2_PROTOCOL = {"rate": 0.2, "output_layer": "prune", "output_rate": 0.1, "rewind_iters": 0,
                  "density": 0.012, "data": "real"}
# The lottery-ticket paper's Fig. 2 protocol to the letter: 40 epochs per level.
_FIG2_PAPER = {**_FIG2_PROTOCOL, "epochs": 40, "train": ("lenet", {"eval_every": 0})}
# Fashion-MNIST: 10 epochs, the first after which the dense net's test accuracy stays within
# half a point of its 40-epoch value (pilot: 3 seeds, 88.81 at 40 epochs, 88.37 at 10, 88.22
# at 9; docs/experiments.md). IMP trains 5 epochs per level (pilot: 87.77 at 5 epochs) and
# only on the paper's grid: at 10 epochs per level, or with the 1% cells (3 more levels per
# search), Table 2 takes more than its 45 min on a 2-core CPU (docs/experiments.md).
_LENET_FMNIST = ("lenet", {"epochs": 10, "eval_every": 0, "checkpoint_every": 0})

SCALE_PRESETS: dict[str, Scale] = {
    "paper": Scale(
        name="paper",
        settings={
            "table1": (("vgg19_bn", "cifar10"), ("resnet20", "cifar10"),
                       ("vgg19_bn", "cifar100"), ("resnet20", "cifar100")),
            "table2": (("vgg19_bn", "cifar10"), ("resnet20", "cifar10"),
                       ("vgg19_bn", "cifar100"), ("resnet20", "cifar100")),
            "table3": (("resnet18", "tiny_imagenet"), ("wide_resnet18", "tiny_imagenet")),
            "table4": (("vgg19_bn", "cifar10"), ("resnet20", "cifar10"),
                       ("vgg19_bn", "cifar100"), ("resnet20", "cifar100")),
        },
        densities=(0.1, 0.05, 0.02), seeds=3,
        recipe={m: ("paper", {"eval_every": 10}) for m in
                ("vgg19_bn", "resnet20", "resnet18", "wide_resnet18")},
        checkpoint=True,
        fig_settings={"fig1a": ("vgg19_bn", "cifar10", 0.1), "fig1b": ("vgg19_bn", "cifar10", 0.1),
                      "fig2": ("lenet_300_100", "fashion_mnist", 0.012)},
        fig2_imp=_FIG2_PAPER, fig2_curve_masks=10_000,
    ),
    "cpu": Scale(
        name="cpu",
        settings={t: (("lenet_300_100", "mnist1d_large"),) for t in TABLES},
        densities=(0.1, 0.05, 0.02, 0.01), seeds=5,
        recipe={"lenet_300_100": _LENET},
        imp={"epochs": 10},
        fig_settings={"fig1a": ("lenet_300_100", "mnist1d_large", 0.1),
                      "fig1b": ("vgg19_bn", "cifar10", 0.1),   # data-free: the paper's setting
                      "fig2": ("lenet_300_100", "mnist1d_large", 0.012)},
        fig2_imp={**_FIG2_PROTOCOL, "epochs": 10, "train": _LENET}, fig2_curve_masks=200,
        fig1b_seeds=3,
    ),
    "cpu-fmnist": Scale(
        name="cpu-fmnist",
        settings={t: (("lenet_300_100", "fashion_mnist"),)
                  for t in ("table1", "table2", "table3", "table4")},
        densities=(0.1, 0.05, 0.02, 0.01), seeds=5,
        recipe={"lenet_300_100": _LENET_FMNIST},
        imp={"epochs": 5}, imp_densities=(0.1, 0.05, 0.02),
        fig_settings={"fig1a": ("lenet_300_100", "fashion_mnist", 0.1),
                      "fig1b": ("lenet_300_100", "fashion_mnist", 0.1),
                      "fig2": ("lenet_300_100", "fashion_mnist", 0.012)},
        fig2_imp=_FIG2_PAPER, fig2_curve_masks=10_000,
    ),
    "cpu-conv": Scale(
        name="cpu-conv",
        settings={t: (("resnet20", "digits"),) for t in ("table1", "table2", "table2_grasp")},
        densities=(0.05,), seeds=3,
        recipe={"resnet20": ("paper", {"epochs": 15, "batch_size": 64, "lr": 0.05,
                                       "milestones": (10,), "eval_every": 0,
                                       "checkpoint_every": 0})},
        prune_batch_size=256, imp={"epochs": 3, "rewind_iters": 0},
    ),
    "smoke": Scale(
        name="smoke",
        settings={t: (("lenet_300_100", "mnist1d"),) for t in TABLES},
        densities=(0.1,), seeds=1,
        recipe={"lenet_300_100": ("lenet", {"epochs": 1, "eval_every": 0,
                                            "checkpoint_every": 0})},
        iterative_rounds=5, prune_batch_size=64, imp={"epochs": 1},
        fig_settings={"fig1a": ("lenet_300_100", "mnist1d", 0.1),
                      "fig1b": ("lenet_300_100", "mnist1d", 0.1),
                      "fig2": ("lenet_300_100", "mnist1d", 0.3)},
        fig2_imp={**_FIG2_PROTOCOL, "density": 0.3, "epochs": 1,
                  "train": ("lenet", {"epochs": 1, "eval_every": 0})},
        fig2_random_masks=1_000, fig2_curve_masks=100,
    ),
}


def scale_options(scale: Scale, method: type, model: str) -> dict[str, Any]:
    """What a scale sets for a method class: the rounds of iterative one-shot methods, the
    prune batch of data scorers, IMP's options and its recipe (the scale's, per level)."""
    if issubclass(method, methods.IMP):
        from sketchjax.training import preset
        name, changes = scale.recipe[model]
        return {"train": preset(name, **{**changes, "checkpoint_every": 0}), **scale.imp,
                **IMP_SAME_DENSITY}
    options: dict[str, Any] = {}
    if issubclass(method, methods.OneShot) and method.default_rounds > 1:
        options["rounds"] = scale.iterative_rounds
    if issubclass(method, methods.DataScored):
        options["batch_size"] = scale.prune_batch_size
    return options


def mask_config(column: Column, scale: Scale, model: str, density: float, seed: int):
    """The method (with its options) of a column's cell at a scale; None for the dense
    column."""
    if column == DENSE:
        return None
    options = scale_options(scale, methods.get(column.method), model)
    return methods.create(column.method, density=density, seed=seed,
                          **{**options, **column.options})
