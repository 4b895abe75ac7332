"""sketchjax: pruning at initialization in JAX/Flax, with the sketching view of Bar & Giryes.

Public API (tensorflow and neural-tangents are not imported here, so pruning starts fast):
models (`init_model`, `create_model`), scorers, selection rules (`select`, `sketch_mask`,
`threshold_mask`, `layerwise_sample_mask`), the pruning loop (`PruneConfig`, `prune`) and
mask files (`Mask`, `save_mask`, `load_mask`, `validate_mask`).
"""
__version__ = "0.1.0"

from sketchjax.errors import SketchjaxError
from sketchjax.masks import Mask, load_mask, save_mask, validate_mask
from sketchjax.models.registry import MODEL_NAMES, ModelBundle, create_model, init_model
from sketchjax.pruning import PruneConfig, prune
from sketchjax.scorers import (grasp_scores, magnitude_scores, random_scores, snip_scores,
                               synflow_scores)
from sketchjax.sketch import (kth_smallest, layerwise_sample_mask, select, sketch_mask,
                              threshold_mask)

__all__ = [
    "MODEL_NAMES", "Mask", "ModelBundle", "PruneConfig", "SketchjaxError", "create_model",
    "grasp_scores", "init_model", "kth_smallest", "layerwise_sample_mask", "load_mask",
    "magnitude_scores", "prune", "random_scores", "save_mask", "select", "sketch_mask",
    "snip_scores", "synflow_scores", "threshold_mask", "validate_mask",
]
