"""What each dataset is, without touching the data: input shape, classes, normalisation."""
from __future__ import annotations

import dataclasses

from sketchjax.errors import SketchjaxError


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset. `input_shape` excludes the batch axis (H, W, C) or (L, C)."""
    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    offline: bool  # available with no network and no manual download


DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in (
        DatasetInfo("cifar10", (32, 32, 3), 10,
                    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), False),
        DatasetInfo("cifar100", (32, 32, 3), 100,
                    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), False),
        DatasetInfo("tiny_imagenet", (64, 64, 3), 200,
                    (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821), False),
        DatasetInfo("fashion_mnist", (28, 28, 1), 10, (0.2860,), (0.3530,), False),
        DatasetInfo("mnist", (28, 28, 1), 10, (0.1307,), (0.3081,), False),
        # mnist1d: the package's default generator (seed 42); stats measured on its train split.
        DatasetInfo("mnist1d", (40, 1), 10, (-0.0003,), (0.9976,), True),
        # scikit-learn's 8x8 digits scaled to [0, 1]; stats measured on all 1797 images.
        DatasetInfo("digits", (8, 8, 1), 10, (0.3053,), (0.3760,), True),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    """Look a dataset up by name; an unknown name lists the valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise SketchjaxError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}") from None
