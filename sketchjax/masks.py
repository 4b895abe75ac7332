"""Mask files: one .npz holding an array per prunable path plus a JSON metadata record.

Readable with numpy alone (`np.load(path, allow_pickle=False)`): every key but
`__metadata__` is a prunable path such as "Block_0/Conv_0/kernel"; `__metadata__` is the
UTF-8 JSON record as a uint8 array (`bytes(arr).decode()`). Binary masks are stored as bool,
Algorithm 1 masks (values count / (s p)) as float32. Files are written to a temporary name
in the target folder and renamed, so a crash never leaves a half-written mask.

Every mask's metadata is built by `mask_metadata` (pruning and IMP alike): what made it, for
which model, dataset and seed, the density asked and realised (total and per layer), and the
versions.
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from sketchjax import trees
from sketchjax.atomic import atomic_savez, check_writable
from sketchjax.errors import SketchjaxError
from sketchjax.version import versions

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


def mask_metadata(arrays: Mapping[str, np.ndarray], *, method: str, model: str, dataset: str,
                  num_classes: int, input_shape: Sequence[int], seed: int, density: float,
                  **fields: Any) -> dict[str, Any]:
    """The metadata record of a mask: the common fields, the realised density (total and per
    layer, counted from `arrays`) and the versions, plus the method's own `fields`."""
    realised = density_summary(arrays)
    return {"method": method, "model": model, "dataset": dataset,
            "num_classes": int(num_classes), "input_shape": [int(d) for d in input_shape],
            "seed": int(seed), "density": density, "realised_density": realised["density"],
            "kept": realised["kept"], "prunable": realised["size"],
            "per_layer": realised["per_layer"], "versions": versions(), **fields}


def layer_table(metadata: Mapping[str, Any]) -> str:
    """Per-layer kept counts and densities of a mask's metadata as aligned text, layers in
    natural order (Conv_2 before Conv_10)."""
    per_layer = metadata["per_layer"]
    rows = [(p, per_layer[p]["kept"], per_layer[p]["size"], per_layer[p]["density"])
            for p in sorted(per_layer, key=trees.natural_key)]
    width = max(len("layer"), *(len(r[0]) for r in rows))
    lines = [f"{'layer':<{width}}  {'kept':>10}  {'size':>10}  {'density':>8}"]
    lines += [f"{p:<{width}}  {k:>10,}  {n:>10,}  {d:>8.4f}" for p, k, n, d in rows]
    lines.append(f"{'total':<{width}}  {metadata['kept']:>10,}  {metadata['prunable']:>10,}  "
                 f"{metadata['realised_density']:>8.4f}")
    return "\n".join(lines)


def save_mask(path: str | os.PathLike, mask: Mask) -> Path:
    """Write `mask` atomically to `path` (a .npz); returns the path."""
    path = check_writable(path)
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
