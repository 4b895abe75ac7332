"""What every pruning method is: a frozen dataclass of its own options.

A method knows its name, its options (dataclass fields whose metadata carries the help text
and, for the command line, a flag), how to check them (`validated`), the record it is named
by (`record`, `name_parts`) and how to compute its mask (`compute`). One-shot methods score
the weights at initialization (`OneShot.score`, run by the pruning loop); IMP runs its search.

This module imports no jax: the command-line tools build their flags from the fields before
anything heavy is loaded.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, NamedTuple, Optional

from sketchjax import names
from sketchjax.errors import SketchjaxError, check_choice, check_int


def option(default: Any, help: str, *, choices: Optional[tuple] = None,
           flag: Optional[str] = None, const: Any = None, cli: bool = True) -> Any:
    """A method's option: a dataclass field with its help text and command-line flag.

    Args:
      default: the method's default.
      help: one line for `--help`.
      choices: the valid values (checked by `validated`, offered by the flag).
      flag: the flag's name; None = "--" + the field name with dashes.
      const: the flag stores this value and takes no argument (e.g. --chi-input).
      cli: False keeps the option out of the command line (library only).
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "choices": choices, "flag": flag, "const": const, "cli": cli})


@dataclasses.dataclass(frozen=True)
class Method:
    """A pruning method's options; subclasses add their own.

    Attributes:
      density: fraction of the prunable weights kept, in (0, 1].
      seed: the initial weights and every random draw of the pruning.
    """
    name: ClassVar[str] = ""
    density: float = option(0.1, "fraction of the prunable weights kept, in (0, 1]")
    seed: int = option(0, "initial weights and every random draw of the pruning")

    def validated(self, model: str, dataset: str) -> "Method":
        """The options checked (SketchjaxError on any value out of range), defaults that
        depend on the model filled in; returns the method to use."""
        if isinstance(self.density, bool) or not (
                isinstance(self.density, (int, float)) and 0 < self.density <= 1):
            raise SketchjaxError(f"density must be in (0, 1], got {self.density!r}")
        check_int(self.seed, "seed", 0)
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices is not None:
                check_choice(getattr(self, f.name), choices, f"{self.name} {f.name}")
        return self

    def record(self) -> dict[str, Any]:
        """The options as a JSON-able dict (what the mask file is named by)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def name_parts(self) -> list[str]:
        """Readable parts of the mask's file name, after model and dataset."""
        return [self.name]

    @property
    def shared_record(self) -> Optional[dict[str, Any]]:
        """The record of work shared by every density (IMP's search); None if there is
        none."""
        return None

    @property
    def ticket_start(self) -> Optional[str]:
        """Where a trained ticket starts ("rewind" or "init"); None for one-shot masks,
        which train from the initial weights they were computed for."""
        return None

    def compute(self, model: str, dataset: str, num_classes: int, path, *, data_dir=None,
                progress: bool = True, log: Callable[[str], None] = print):
        """The mask (a `sketchjax.masks.Mask`) of this validated method; `path` is where
        it will be written (IMP keeps its search beside it)."""
        raise NotImplementedError


class ScoreInputs(NamedTuple):
    """What a scorer sees inside the compiled pruning round.

    apply_fn(params, batch_stats, x) -> logits (BN in inference mode); params: the masked
    params; images (nb, B, ...) and labels (nb, B): real prune batches (zeros otherwise);
    input_scale: SynFlow's scale of its input (1 for the others); prunable: the rule of the
    leaves to score, (path, leaf) -> bool (None: the default, `trees.is_prunable`; pass it to
    the scorers, which score exactly those leaves).
    """
    apply_fn: Callable
    params: Any
    batch_stats: Any
    input_shape: tuple
    num_classes: int
    key: Any
    images: Any
    labels: Any
    input_scale: Any
    prunable: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class OneShot(Method):
    """A method that scores the weights at initialization, T rounds of (score params * mask,
    shrink the density, select).

    Attributes:
      rounds: T; None = the method's default (`default_rounds`).
      schedule: exponential (d ** ((t+1)/T)) or linear.
      selection: threshold, layerwise_sample (the paper's randomized mask) or sketch
        (Algorithm 1).
      replacement: layerwise_sample drawing with replacement (Algorithm 1 inside each layer).
      distribution: global (one ranking over all layers), uniform or erk per-layer budgets,
        inside which the selection works (`sketchjax.distributions`).
      layer_density: ((fnmatch pattern, density), ...): layers with their own density (uniform
        and erk only).
    """
    default_rounds: ClassVar[int] = 1
    rounds: Optional[int] = option(None, "pruning rounds T (default: the method's)")
    schedule: str = option("exponential", "density schedule over the rounds",
                           choices=names.SCHEDULES)
    selection: str = option("threshold", "hard threshold; the paper's per-layer randomized "
                            "mask; Algorithm 1 (global)", choices=names.SELECTIONS)
    replacement: bool = option(False, "layerwise_sample with replacement (Algorithm 1 inside "
                               "each layer)")
    distribution: str = option("global", "how the kept weights are shared among layers: one "
                               "ranking over all; the density in every layer; "
                               "Erdos-Renyi-Kernel", choices=names.DISTRIBUTIONS)
    layer_density: tuple = option((), "per-layer densities ((fnmatch pattern, density), ...) "
                                  "with a uniform or erk distribution", cli=False)

    @property
    def num_rounds(self) -> int:
        return self.default_rounds if self.rounds is None else self.rounds

    @property
    def draws_with_replacement(self) -> bool:
        return self.selection == "sketch" or (self.selection == "layerwise_sample"
                                               and self.replacement)

    @property
    def sampling_rule(self) -> Optional[str]:
        """How a randomized selection turns signed scores into weights; None for scores
        that are never negative, or under the hard threshold."""
        return None

    def validated(self, model: str, dataset: str) -> "OneShot":
        super().validated(model, dataset)
        if self.rounds is not None:
            check_int(self.rounds, "rounds", 1)
        if self.replacement and self.selection != "layerwise_sample":
            raise SketchjaxError("replacement applies to the layerwise_sample selection only")
        for entry in self.layer_density:
            if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
                    and not isinstance(entry[1], bool) and isinstance(entry[1], (int, float))
                    and 0 < entry[1] <= 1):
                raise SketchjaxError(f"layer_density entries are (pattern, density in (0, 1]); "
                                     f"got {entry!r}")
        if self.layer_density and self.distribution == "global":
            raise SketchjaxError("per-layer densities need a per-layer distribution "
                                 "(uniform or erk), not global")
        return self

    def record(self) -> dict[str, Any]:
        """The options with the round count resolved; the distribution only where it is not
        the global one (so earlier masks keep their names)."""
        record = dict(super().record(), rounds=self.num_rounds)
        if self.distribution == "global":
            del record["distribution"]
        if not self.layer_density:
            del record["layer_density"]
        return record

    def name_parts(self) -> list[str]:
        rule = self.sampling_rule
        spread = [self.distribution] if self.distribution != "global" else []
        return [*self.option_parts(), *spread,
                self.selection + ("_repl" if self.replacement else "")] + (
            [rule] if rule not in (None, "positive") else [])

    def option_parts(self) -> list[str]:
        """The method's name and the options that tell its masks apart at a glance."""
        return [self.name]

    def compiled(self) -> "OneShot":
        """The options that do not change the compiled round set to defaults, so that sweeps
        over density, seed, rounds, schedule or per-layer budgets (traced counts) reuse one
        compilation."""
        return dataclasses.replace(self, density=1.0, seed=0, rounds=1,
                                   schedule="exponential", distribution="global",
                                   layer_density=())

    def score(self, x: ScoreInputs):
        """Scores over the prunable leaves of x.params (higher = keep); traced inside the
        compiled round."""
        raise NotImplementedError

    def score_and_total(self, x: ScoreInputs):
        """(scores, a scalar total): SynFlow's R, which rescales its next input; 1 for the
        others. What the pruning round calls."""
        import jax.numpy as jnp
        return self.score(x), jnp.float32(1.0)

    def input_scale(self, bundle, key):
        """The first round's input scale (a scalar array), or None when the input is not
        scaled (every method but SynFlow)."""
        return None

    def inputs_record(self, scaled: bool) -> dict[str, Any]:
        """What the mask's metadata says about the method's inputs."""
        return {}

    @property
    def needs_real_data(self) -> bool:
        """Whether the method scores on real prune batches (`prune_batches`)."""
        return False

    def prune_batches(self, dataset: str, data_dir=None):
        """Real prune batches (images (nb, B, ...), labels (nb, B)) where the method needs
        them (`needs_real_data`), else None; drawn once, before the loop."""
        return None

    def compute(self, model, dataset, num_classes, path, *, data_dir=None, progress=True,
                log=print):
        import jax

        from sketchjax.models.registry import init_model
        from sketchjax.pruning import prune
        real_data = self.prune_batches(dataset, data_dir)
        bundle = init_model(model, dataset, jax.random.key(self.seed), num_classes=num_classes)
        return prune(bundle, self, dataset=dataset, real_data=real_data, progress=progress)


@dataclasses.dataclass(frozen=True)
class DataScored(OneShot):
    """A one-shot method that scores on prune batches: real data, or random (normal, sparse).

    Attributes:
      data: real | normal | sparse.
      batch_size, num_batches: the prune batches (the paper: one of 256).
    """
    data: str = option("real", "prune batches: the training set, N(0, 1) images, or sparse "
                       "ones", choices=names.PRUNE_DATA)
    batch_size: int = option(256, "prune batch size")
    num_batches: int = option(1, "prune batches (their gradients are summed)")

    def validated(self, model: str, dataset: str) -> "DataScored":
        super().validated(model, dataset)
        check_int(self.batch_size, "batch size", 1)
        check_int(self.num_batches, "number of batches", 1)
        return self

    def option_parts(self) -> list[str]:
        return [self.name, self.data]

    def inputs_record(self, scaled: bool) -> dict[str, Any]:
        return {"data": self.data, "batch_size": self.batch_size,
                "num_batches": self.num_batches}

    @property
    def needs_real_data(self) -> bool:
        return self.data == "real"

    def prune_batches(self, dataset: str, data_dir=None):
        if not self.needs_real_data:
            return None
        from sketchjax import inputs
        return inputs.real_batches(dataset, self.num_batches, self.batch_size, self.seed,
                                   data_dir)

    def score(self, x: ScoreInputs):
        images, labels = x.images, x.labels
        if self.data != "real":
            from sketchjax import inputs
            images, labels = inputs.random_batches(self.data, x.key, self.num_batches,
                                                   self.batch_size, x.input_shape,
                                                   x.num_classes)
        return self.data_score(x, images, labels)

    def data_score(self, x: ScoreInputs, images, labels):
        """Scores on the stacked batches (images (nb, B, ...), labels (nb, B))."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class SignedScores:
    """A mixin for one-shot methods whose scores can be negative (GraSP, Random): a
    randomized selection samples them by `signed_weighting`.

    Attributes:
      signed_weighting: "positive" (max(score, 0)), "shift" (score - layer min) or "rank"
        (rank in the layer); see `sketch.signed_sampling_weights`.
    """
    signed_weighting: str = option("positive", "with a randomized selection, sample signed "
                                   "scores in proportion to max(score, 0), to score - layer "
                                   "min, or to their rank", choices=names.SIGNED_WEIGHTINGS)

    @property
    def sampling_rule(self) -> Optional[str]:
        return None if self.selection == "threshold" else self.signed_weighting

    def record(self) -> dict[str, Any]:
        """The options; the weighting only where it acts (a threshold mask keeps the name it
        had before the weighting was an option)."""
        record = super().record()
        if self.sampling_rule is None:
            del record["signed_weighting"]
        return record


__all__ = ["DataScored", "Method", "OneShot", "ScoreInputs", "SignedScores", "option"]
