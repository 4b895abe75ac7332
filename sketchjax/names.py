"""Every name a user can type: models, datasets, selections and the methods' options.

Importing this module imports nothing heavy (no jax, no TensorFlow), so the command-line tools
take their `choices` from here and answer `--help` and flag errors at once. The library checks
that its registries hold exactly these names (tests/test_names.py).
"""
from __future__ import annotations

MODELS = ("vgg19_bn", "vgg19", "resnet20", "wide_resnet20", "resnet18", "wide_resnet18",
          "lenet_300_100", "linear")
DATASETS = ("cifar10", "cifar100", "tiny_imagenet", "fashion_mnist", "mnist", "mnist1d",
            "mnist1d_large", "digits")
OFFLINE_DATASETS = ("mnist1d", "mnist1d_large", "digits")

# Pruning options (the methods themselves are named by their registry, `sketchjax.methods`).
# How a randomized selection turns signed scores into sampling weights (docs/experiments.md
# argues the default, the first).
SIGNED_WEIGHTINGS = ("positive", "shift", "rank")
SELECTIONS = ("threshold", "layerwise_sample", "sketch")
DISTRIBUTIONS = ("global", "uniform", "erk")    # kept weights among layers (distributions.py)
SCHEDULES = ("exponential", "linear")
SYNFLOW_INPUTS = ("ones", "chi")
PRUNE_DATA = ("real", "normal", "sparse")
SNIP_LOSSES = ("cross_entropy", "l1")

# Iterative magnitude pruning (its data: TRAIN_DATA below).
IMP_SELECTIONS = ("threshold", "layerwise_sample")
OUTPUT_LAYER_MODES = ("prune", "ignore")

# Training.
PRESETS = ("paper", "lenet")
OPTIMIZERS = ("sgd", "adam")
MASK_MODES = ("binary", "scaled")
# Training data: the training split; fresh N(0, 1) images with random labels every step; or a
# fixed random set of the training split's size (each example's image and label fixed), as the
# authors' code trains IMP on random data.
TRAIN_DATA = ("real", "normal", "normal_fixed")
RANDOM_TRAIN_DATA = ("normal", "normal_fixed")
