"""What each dataset is, without touching the data: input shape, classes, normalisation, sizes."""
from __future__ import annotations

import dataclasses

from sketchjax import names
from sketchjax.errors import SketchjaxError

TINY_IMAGENET_ZIP = "tiny-imagenet-200.zip"   # the manual download tfds builds Tiny-ImageNet from


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset.

    Attributes:
      name: the registry name.
      input_shape: one example's shape without the batch axis, (H, W, C) or (L, C).
      num_classes: label count.
      mean, std: per-channel normalisation.
      num_train, num_test: the standard split sizes (the data on disk, when there, is
        authoritative; these size an epoch of random-data training when it is not).
      offline: available with no network and no manual download.
    """
    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_train: int
    num_test: int
    offline: bool


DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in (
        DatasetInfo("cifar10", (32, 32, 3), 10,
                    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 50000, 10000, False),
        DatasetInfo("cifar100", (32, 32, 3), 100,
                    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 50000, 10000, False),
        DatasetInfo("tiny_imagenet", (64, 64, 3), 200,
                    (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821), 100000, 10000,
                    False),
        DatasetInfo("fashion_mnist", (28, 28, 1), 10, (0.2860,), (0.3530,), 60000, 10000, False),
        DatasetInfo("mnist", (28, 28, 1), 10, (0.1307,), (0.3081,), 60000, 10000, False),
        # mnist1d: the package's default generator (seed 42); stats measured on its train split.
        DatasetInfo("mnist1d", (40, 1), 10, (-0.0003,), (0.9976,), 4000, 1000, True),
        # the same generator with num_samples=20000 (offline.MNIST1D_SAMPLES); stats measured
        # on its train split.
        DatasetInfo("mnist1d_large", (40, 1), 10, (0.0001,), (1.0008,), 16000, 4000, True),
        # scikit-learn's 8x8 digits scaled to [0, 1]; stats measured on all 1797 images.
        DatasetInfo("digits", (8, 8, 1), 10, (0.3053,), (0.3760,), 1437, 360, True),
    )
}
assert tuple(DATASETS) == names.DATASETS, "sketchjax.names.DATASETS and the metadata disagree"
assert tuple(n for n, i in DATASETS.items() if i.offline) == names.OFFLINE_DATASETS


def dataset_info(name: str) -> DatasetInfo:
    """Look a dataset up by name; an unknown name lists the valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise SketchjaxError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}") from None
