"""Datasets: static metadata, input pipelines (tfds and offline), training streams, random
pruning data.

Importing this package does not import TensorFlow; the pipelines import it on first use, with
the GPUs hidden from it (`tf_loader`). `sketchjax.data.tiny_imagenet` (the tfds builder) is
imported only when Tiny-ImageNet is asked for.
"""
from sketchjax.data.metadata import DATASETS, DatasetInfo, dataset_info
from sketchjax.data.offline import default_data_dir, digits_arrays, load_offline, mnist1d_arrays
from sketchjax.data.pipelines import (AUGMENTED_DATASETS, CROP_PADDING, TFDS_DATASETS,
                                      epoch_batches, eval_batches, num_examples, prune_batch,
                                      train_batches)
from sketchjax.data.random_data import normal_batch, sparse_batch
from sketchjax.data.streams import (fixed_random_stream, normal_batch_fn, normal_data_keys,
                                    real_train_stream)
from sketchjax.data.tf_loader import import_tensorflow, import_tfds
from sketchjax.names import OFFLINE_DATASETS

__all__ = [
    "AUGMENTED_DATASETS", "CROP_PADDING", "DATASETS", "DatasetInfo", "OFFLINE_DATASETS",
    "TFDS_DATASETS", "dataset_info", "default_data_dir", "digits_arrays", "epoch_batches",
    "eval_batches", "fixed_random_stream", "import_tensorflow", "import_tfds", "load_offline", "mnist1d_arrays",
    "normal_batch", "normal_batch_fn", "normal_data_keys", "num_examples", "prune_batch",
    "real_train_stream", "sparse_batch", "train_batches",
]
