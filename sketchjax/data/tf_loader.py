"""Importing TensorFlow and tensorflow-datasets with every GPU hidden from TensorFlow.

TensorFlow reserves most of a GPU's memory when its runtime starts; hiding the GPUs before that
leaves the accelerator to JAX. Both the pipelines and the Tiny-ImageNet builder import
TensorFlow through here, so neither imports the other.
"""
from __future__ import annotations

import os

from sketchjax.errors import SketchjaxError

TFDS_EXTRA = ("the tensorflow-datasets data sets need TensorFlow and tensorflow-datasets: "
              "pip install 'sketchjax[tfds]'")


def import_tensorflow():
    """Import TensorFlow with every GPU hidden from it; returns the module. Idempotent.

    Raises:
      SketchjaxError: TensorFlow is not installed (it is the `tfds` extra).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as e:
        raise SketchjaxError(f"{TFDS_EXTRA} ({e})") from None
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        # The TF runtime was already started by someone else's import; nothing we can change.
        pass
    return tf


def import_tfds():
    """tensorflow_datasets, imported after `import_tensorflow`."""
    import_tensorflow()
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise SketchjaxError(f"{TFDS_EXTRA} ({e})") from None
    return tfds
