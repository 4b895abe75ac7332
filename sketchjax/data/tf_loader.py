"""Importing TensorFlow and tensorflow-datasets with every GPU hidden from TensorFlow.

TensorFlow reserves most of a GPU's memory when its runtime starts; hiding the GPUs before that
leaves the accelerator to JAX. Both the pipelines and the Tiny-ImageNet builder import
TensorFlow through here, so neither imports the other.
"""
from __future__ import annotations

import os


def import_tensorflow():
    """Import TensorFlow with every GPU hidden from it; returns the module. Idempotent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        # The TF runtime was already started by someone else's import; nothing we can change.
        pass
    return tf


def import_tfds():
    """tensorflow_datasets, imported after `import_tensorflow`."""
    import_tensorflow()
    import tensorflow_datasets as tfds
    return tfds
