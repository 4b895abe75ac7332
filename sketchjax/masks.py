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
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import jax
import numpy as np

from sketchjax import trees
from sketchjax.atomic import atomic_savez, check_writable
from sketchjax.errors import SketchjaxError
from sketchjax.version import versions

FORMAT = "sketchjax-mask/1"
METADATA_KEY = "__metadata__"


class Rewind(NamedTuple):
    """An IMP ticket's rewind point: theta_K's file, relative to the mask file's folder (an
    absolute path in files of earlier versions), and K."""
    file: str
    step: int


@dataclasses.dataclass(frozen=True)
class MaskInfo:
    """The typed reading of a mask's metadata record (`Mask.info`): what the library relies
    on. Every field is optional, so masks made by hand (`Mask(arrays, {})`) read too.

    Attributes:
      method, model, dataset, num_classes, seed: what made the mask, for which weights.
      density, realised_density, kept, prunable, per_layer: asked and realised (total, per
        layer: {"kept", "size", "density"}).
      config_hash: the hash of the config that made it (`make_mask`).
      data: the data it was scored or searched on ("real", "normal", ...).
      rewind: an IMP ticket's rewind point; ticket_start: "rewind" | "init" (IMP only).
      pruned_density: an IMP mask's density over the layers its search pruned (it may leave
        the classifier dense); None for other masks, which prune every prunable layer.
    """
    method: Optional[str] = None
    model: Optional[str] = None
    dataset: Optional[str] = None
    num_classes: Optional[int] = None
    seed: int = 0
    density: Optional[float] = None
    realised_density: Optional[float] = None
    kept: Optional[int] = None
    prunable: Optional[int] = None
    per_layer: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    config_hash: Optional[str] = None
    data: str = "real"
    rewind: Optional[Rewind] = None
    ticket_start: Optional[str] = None
    pruned_density: Optional[float] = None

    @classmethod
    def read(cls, record: Mapping[str, Any]) -> "MaskInfo":
        """The one reader of a metadata record."""
        rewind = record.get("rewind")
        imp = record.get("imp") or {}
        return cls(method=record.get("method"), model=record.get("model"),
                   dataset=record.get("dataset"), num_classes=record.get("num_classes"),
                   seed=int(record.get("seed", 0)), density=record.get("density"),
                   realised_density=record.get("realised_density"), kept=record.get("kept"),
                   prunable=record.get("prunable"), per_layer=record.get("per_layer") or {},
                   config_hash=record.get("config_hash"),
                   data=(record.get("inputs") or {}).get("data", "real"),
                   rewind=Rewind(str(rewind["file"]), int(rewind["step"])) if rewind else None,
                   ticket_start=record.get("ticket_start"),
                   pruned_density=imp.get("pruned_density"))


@dataclasses.dataclass(frozen=True)
class Mask:
    """Mask arrays keyed by prunable path, and the record of how they were made."""
    arrays: dict[str, np.ndarray]
    metadata: dict[str, Any]

    @property
    def info(self) -> MaskInfo:
        """The metadata, typed (`MaskInfo`)."""
        return MaskInfo.read(self.metadata)

    def binary(self, like: Optional[Any] = None) -> Any:
        """The mask's support, 1 (kept) or 0 (pruned), as float32: what to multiply weights by.

        Args:
          like: None: a nested dict over the pruned leaves only, by path; a params pytree
            (dict, FrozenDict, nnx.State): a tree of its structure, 1 on every leaf the mask
            does not name.
        """
        return self._tree({p: (np.asarray(a) != 0).astype(np.float32)
                           for p, a in self.arrays.items()}, like)

    def values(self, like: Optional[Any] = None) -> Any:
        """The stored values as float32 (`binary`'s shapes): 0/1 for a threshold mask, the
        weights count / (s p) of Algorithm 1 for a sketch mask (up to hundreds; they rescale
        the weights they multiply, the paper's "scaled" training)."""
        return self._tree({p: np.asarray(a, np.float32) for p, a in self.arrays.items()}, like)

    def _tree(self, flat: Mapping[str, np.ndarray], like: Optional[Any]) -> Any:
        if like is None:
            return trees.unflatten(flat)
        trees.check_paths(flat, like)
        return jax.tree_util.tree_map_with_path(
            lambda keys, leaf: flat.get(trees.key_path(keys),
                                        np.ones(np.shape(leaf), np.float32)), like)

    @property
    def is_binary(self) -> bool:
        """Every value 0 or 1 (a threshold mask; Algorithm 1's values are counts / (s p))."""
        return all(np.all((a == 0) | (a == 1)) for a in self.arrays.values())


def apply_mask(params: Any, mask: "Mask | Mapping", *, values: bool = False) -> Any:
    """params times the mask, in the params' own structure (dict, FrozenDict, nnx.State).

    Args:
      params: any pytree of arrays holding the mask's paths.
      mask: a `Mask` (its support, 0/1; `values=True`: its stored values, Algorithm 1's
        count / (s p)) or a tree over some of the params' leaves, by path.
    """
    if isinstance(mask, Mask):
        mask = mask.values() if values else mask.binary()
    return trees.apply_mask(params, mask)


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


class EmptyLayersWarning(UserWarning):
    """A mask with pruned layers that keep no weight (`empty_layers`)."""


def empty_layers(info: MaskInfo) -> list[str]:
    """The pruned layers that keep no weight (the output then no longer depends on the input
    through them; a density far below 1/N does this)."""
    return sorted((p for p, v in info.per_layer.items() if v["kept"] == 0), key=trees.natural_key)


def empty_layers_message(info: MaskInfo) -> str:
    """One line naming the empty layers (`empty_layers`), or '' when there are none."""
    empty = empty_layers(info)
    if not empty:
        return ""
    return (f"{len(empty)} of {len(info.per_layer)} pruned layers keep no weight, so the "
            f"network no longer connects its input to its output: {', '.join(empty[:6])}"
            + (" ..." if len(empty) > 6 else "") + f" (density {info.density})")


def layer_table(info: MaskInfo) -> str:
    """Per-layer kept counts and densities of a mask (`Mask.info`) as aligned text, layers in
    natural order (Conv_2 before Conv_10)."""
    per_layer = info.per_layer
    rows = [(p, per_layer[p]["kept"], per_layer[p]["size"], per_layer[p]["density"])
            for p in sorted(per_layer, key=trees.natural_key)]
    width = max(len("layer"), *(len(r[0]) for r in rows))
    lines = [f"{'layer':<{width}}  {'kept':>10}  {'size':>10}  {'density':>8}"]
    lines += [f"{p:<{width}}  {k:>10,}  {n:>10,}  {d:>8.4f}" for p, k, n, d in rows]
    lines.append(f"{'total':<{width}}  {info.kept:>10,}  {info.prunable:>10,}  "
                 f"{info.realised_density:>8.4f}")
    return "\n".join(lines)


def mask_id(mask: Mask) -> str:
    """What identifies a mask wherever its file lies: the hash of the config that made it
    (`make_mask`), else a hash of its arrays (16 hex digits)."""
    if mask.info.config_hash:
        return mask.info.config_hash
    h = hashlib.sha256()
    for path in sorted(mask.arrays):
        a = np.ascontiguousarray(mask.arrays[path], np.float32)
        h.update(f"{path}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def save_mask(path: str | os.PathLike, mask: Mask) -> Path:
    """Write `mask` atomically to `path` (a .npz); returns the path."""
    path = check_writable(path)
    arrays = {p: (np.asarray(a, bool) if mask.is_binary else np.asarray(a, np.float32))
              for p, a in mask.arrays.items()}
    record = dict(mask.metadata, format=FORMAT, storage="bool" if mask.is_binary else "float32")
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
    """The mask must name exactly the prunable paths of `params`, with their shapes (a mask
    made with its own prunable rule or kept-dense layers, `prunable_rule` in its metadata:
    any of the params' leaves; the ones it does not name stay dense).

    Args:
      model: how the error names the target, e.g. "lenet_300_100 on mnist1d".
    """
    own_rule = "prunable_rule" in mask.metadata
    expected = {p: np.shape(leaf) for p, leaf in
                (trees.paths_of(params) if own_rule else trees.flatten(trees.prunable(params)))
                .items()}
    got = {p: np.shape(a) for p, a in mask.arrays.items()}
    missing = [] if own_rule else sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = sorted(p for p in set(expected) & set(got) if expected[p] != got[p])
    if missing or extra or wrong:
        info = mask.info
        made_for = (f"{info.model} on {info.dataset}" if info.model and info.dataset
                    else info.model or "another model")
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
