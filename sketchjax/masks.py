"""Mask files: one .npz holding an array per prunable path plus a JSON metadata record.

Readable with numpy alone (`np.load(path, allow_pickle=False)`): every key but
`__metadata__` is a prunable path such as "Block_0/Conv_0/kernel"; `__metadata__` is the
UTF-8 JSON record as a uint8 array (`bytes(arr).decode()`). Binary masks are stored as bool,
Algorithm 1 masks (values count / (s p)) as float32. Files are written to a temporary name
in the target folder and renamed, so a crash never leaves a half-written mask.
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from sketchjax import trees
from sketchjax.atomic import atomic_savez
from sketchjax.errors import SketchjaxError

FORMAT = "sketchjax-mask/1"
METADATA_KEY = "__metadata__"


@dataclasses.dataclass(frozen=True)
class Mask:
    """Mask arrays keyed by prunable path, and the record of how they were made."""
    arrays: dict[str, np.ndarray]
    metadata: dict[str, Any]

    def tree(self) -> dict:
        """The mask as a nested dict shaped like the params' prunable leaves (float32)."""
        return trees.unflatten({p: np.asarray(a, np.float32) for p, a in self.arrays.items()})

    @property
    def binary(self) -> bool:
        return all(np.all((a == 0) | (a == 1)) for a in self.arrays.values())


def density_summary(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Realised density, total and per layer: kept (non-zero) counts over sizes."""
    per_layer = {p: {"kept": int(np.count_nonzero(a)), "size": int(np.size(a)),
                     "density": float(np.count_nonzero(a) / np.size(a))}
                 for p, a in sorted(arrays.items())}
    kept = sum(v["kept"] for v in per_layer.values())
    size = sum(v["size"] for v in per_layer.values())
    return {"kept": kept, "size": size, "density": kept / size, "per_layer": per_layer}


def writable_target(path: str | os.PathLike) -> Path:
    """Check, before any work and without creating anything, that `path` can be written."""
    path = Path(path)
    if path.is_dir():
        raise SketchjaxError(f"output path {path} is a directory; give a file name ending .npz")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise SketchjaxError(f"cannot write to {path.parent}: {existing} is not a writable folder")
    return path


def save_mask(path: str | os.PathLike, mask: Mask) -> Path:
    """Write `mask` atomically to `path` (a .npz); returns the path."""
    path = writable_target(path)
    arrays = {p: (np.asarray(a, bool) if mask.binary else np.asarray(a, np.float32))
              for p, a in mask.arrays.items()}
    record = dict(mask.metadata, format=FORMAT, storage="bool" if mask.binary else "float32")
    arrays[METADATA_KEY] = np.frombuffer(json.dumps(record, sort_keys=True).encode(), np.uint8)
    atomic_savez(path, arrays, compressed=True)
    return path


def load_mask(path: str | os.PathLike) -> Mask:
    """Read a mask file; a missing, truncated or foreign file raises SketchjaxError."""
    path = Path(path)
    if not path.is_file():
        raise SketchjaxError(f"mask file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if METADATA_KEY not in npz.files:
                raise SketchjaxError(
                    f"{path} is not a sketchjax mask file (no {METADATA_KEY} record)")
            metadata = json.loads(bytes(npz[METADATA_KEY]).decode())
            arrays = {k: np.asarray(npz[k], np.float32) for k in npz.files if k != METADATA_KEY}
    except SketchjaxError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError,
            json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SketchjaxError(f"{path} is not a readable mask file (truncated or foreign): "
                             f"{err}") from None
    if metadata.get("format") != FORMAT:
        raise SketchjaxError(f"{path} is not a sketchjax mask file "
                             f"(format {metadata.get('format')!r}, expected {FORMAT!r})")
    return Mask(arrays, metadata)


def validate_mask(mask: Mask, params: Mapping, model: str = "the model") -> None:
    """The mask must name exactly the prunable paths of `params`, with their shapes."""
    expected = {p: np.shape(leaf) for p, leaf in trees.flatten(trees.prunable(params)).items()}
    got = {p: np.shape(a) for p, a in mask.arrays.items()}
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = sorted(p for p in set(expected) & set(got) if expected[p] != got[p])
    if missing or extra or wrong:
        made_for = mask.metadata.get("model", "another model")
        problems = []
        if missing:
            problems.append(f"missing paths {missing[:3]}{' ...' if len(missing) > 3 else ''}")
        if extra:
            problems.append(f"unknown paths {extra[:3]}{' ...' if len(extra) > 3 else ''}")
        if wrong:
            p = wrong[0]
            problems.append(f"shape of {p} is {got[p]}, {model} has {expected[p]}")
        raise SketchjaxError(f"the mask (made for {made_for}) does not fit {model}: "
                             + "; ".join(problems))
