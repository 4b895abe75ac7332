"""Model variables (params and BatchNorm statistics) as one .npz file: IMP's rewind point.

Keys are "params/<path>" and "batch_stats/<path>" with "/"-joined paths; readable with numpy
alone. Written atomically.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import jax
import numpy as np

from sketchjax import trees
from sketchjax.atomic import atomic_savez
from sketchjax.errors import SketchjaxError

COLLECTIONS = ("params", "batch_stats")


def save_variables(path: str | os.PathLike, variables: Mapping[str, Mapping]) -> Path:
    """{"params", "batch_stats"} as one .npz, atomically; returns the path."""
    arrays = {f"{col}/{p}": np.asarray(jax.device_get(v))
              for col in COLLECTIONS for p, v in trees.flatten(variables.get(col, {})).items()}
    return atomic_savez(path, arrays)


def load_variables(path: str | os.PathLike) -> dict[str, dict]:
    """Inverse of `save_variables`: {"params": nested dict, "batch_stats": nested dict}."""
    path = Path(path)
    if not path.is_file():
        raise SketchjaxError(f"rewind point {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            flat = {k: np.asarray(npz[k]) for k in npz.files}
    except Exception as err:  # noqa: BLE001  (any unreadable file gets one message)
        raise SketchjaxError(f"{path} is not a readable rewind point: {err}") from None
    return {col: trees.unflatten({k[len(col) + 1:]: v for k, v in flat.items()
                                  if k.startswith(col + "/")}) for col in COLLECTIONS}
