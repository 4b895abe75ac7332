"""JSON records of masks and runs: writing them, naming things by them, comparing them.

A mask file, an IMP search folder and a run folder are each named by readable parts and a short
hash of the record of everything that determines their content (`identity_name`), and refuse
to be reused for another record (`config_differences`), as OpenLTH names its runs. No record
holds an absolute path: a file is identified by its own config hash, so a copied or moved
folder keeps its names.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from sketchjax.atomic import atomic_write_text

HASH_LENGTH = 8


def _default(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if hasattr(x, "__array__"):
        return np.asarray(x).tolist()
    if isinstance(x, (Path, os.PathLike)):
        return os.fspath(x)
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


def canonical(record: Any) -> Any:
    """The record as JSON would give it back: tuples as lists, numpy scalars as numbers."""
    return json.loads(json.dumps(record, sort_keys=True, default=_default))


def write_json(path: str | os.PathLike, record: Any) -> None:
    """Atomic, sorted, indented JSON."""
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, default=_default)
                      + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def config_hash(record: Mapping[str, Any]) -> str:
    """The first 8 hex digits of the sha256 of the record's sorted, compact JSON."""
    text = json.dumps(canonical(record), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def identity_name(parts: Iterable[str], record: Mapping[str, Any]) -> str:
    """The one rule that names a mask file, an IMP search, a training run or an experiment
    run: readable parts, then the hash of everything that determines its content, joined by
    "_" (e.g. "lenet_300_100_mnist1d_synflow_threshold_d0.1_seed0_1a2b3c4d")."""
    return "_".join([*parts, config_hash(record)])


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any],
                       ignore: Iterable[str] = ()) -> list[str]:
    """Dotted names of the entries that differ between two records (nested dicts recursed).

    Args:
      saved, current: the records (compared in their JSON form).
      ignore: dotted names to leave out, e.g. "train.epochs".
    Returns:
      sorted names, [] when the records agree.
    """
    ignored = set(ignore)

    def walk(a, b, prefix):
        out = []
        for key in sorted(set(a) | set(b)):
            name = f"{prefix}{key}"
            if name in ignored:
                continue
            x, y = a.get(key), b.get(key)
            if isinstance(x, dict) and isinstance(y, dict):
                out += walk(x, y, name + ".")
            elif x != y:
                out.append(name)
        return out

    return walk(canonical(dict(saved)), canonical(dict(current)), "")
