"""sketchjax: pruning at initialization in JAX/Flax, with the sketching view of Bar & Giryes.

The public API, re-exported here and loaded on first use (so that `sketchjax.names`, which the
command-line tools read their choices from, imports without jax):

- models: `init_model`, `create_model`, `model_spec`, `MODEL_NAMES`;
- scores and selections: the scorers, `select`, `threshold_mask`, `layerwise_sample_mask`,
  `sketch_mask` (Algorithm 1), `kth_smallest`, and the one count rule `kept_count`;
- methods (`sketchjax.methods`, one dataclass each): `SynFlow`, `SNIP`, `GraSP`, `Magnitude`,
  `Random`, `IMP`, and `methods` itself (the registry: `register` adds your own);
- pruning: `prune` (the loop on a model), `run_imp` (the IMP search);
- your own model: `from_linen`, `from_nnx`, `from_function` (a `ModelBundle` for `prune`,
  which also takes a `prunable` rule and `keep_dense` patterns);
- mask files: `Mask` (`binary()`: the support; `values()`: Algorithm 1's values), `save_mask`,
  `load_mask`, `validate_mask`, and `MaskSpec` / `make_mask` (masks named by their config,
  computed once);
- masks in your own loop: `apply_mask` (params times a mask, any params pytree) and
  `with_mask` (any optax transformation, the mask in its state);
- training: `TrainConfig`, `plan_run`, `train`, `TrainOverrides`, `train_from_mask`.

TensorFlow and neural-tangents are never imported by these.
"""
from __future__ import annotations

import importlib

from sketchjax.version import __version__

_EXPORTS = {
    "SketchjaxError": "sketchjax.errors",
    "kept_count": "sketchjax.counts",
    "Mask": "sketchjax.masks", "load_mask": "sketchjax.masks", "save_mask": "sketchjax.masks",
    "validate_mask": "sketchjax.masks", "layer_table": "sketchjax.masks",
    "apply_mask": "sketchjax.masks",
    "from_linen": "sketchjax.models.own", "from_nnx": "sketchjax.models.own",
    "from_function": "sketchjax.models.own",
    "with_mask": "sketchjax.training.optimizer",
    "WithMaskState": "sketchjax.training.optimizer",
    "MODEL_NAMES": "sketchjax.models.registry", "ModelBundle": "sketchjax.models.registry",
    "create_model": "sketchjax.models.registry", "init_model": "sketchjax.models.registry",
    "model_spec": "sketchjax.models.registry",
    "SynFlow": "sketchjax.methods", "SNIP": "sketchjax.methods", "GraSP": "sketchjax.methods",
    "Magnitude": "sketchjax.methods", "Random": "sketchjax.methods",
    "IMP": "sketchjax.methods", "prune": "sketchjax.pruning",
    "grasp_scores": "sketchjax.scorers", "magnitude_scores": "sketchjax.scorers",
    "random_scores": "sketchjax.scorers", "snip_scores": "sketchjax.scorers",
    "synflow_scores": "sketchjax.scorers",
    "kth_smallest": "sketchjax.sketch", "layerwise_sample_mask": "sketchjax.sketch",
    "select": "sketchjax.sketch", "sketch_mask": "sketchjax.sketch",
    "threshold_mask": "sketchjax.sketch",
    "run_imp": "sketchjax.imp",
    "MaskSpec": "sketchjax.mask_store", "make_mask": "sketchjax.mask_store",
    "TrainConfig": "sketchjax.training", "TrainOverrides": "sketchjax.training",
    "plan_run": "sketchjax.training", "train": "sketchjax.training",
    "train_from_mask": "sketchjax.training",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    if name == "methods":      # the registry and the method classes (no jax at import)
        return importlib.import_module("sketchjax.methods")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sketchjax' has no attribute {name!r}")


def __dir__():
    return __all__
