"""Atomic file writes: a temporary file beside the target, then a rename.

An interrupted run never leaves a half-written mask, checkpoint, cache or report.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Mapping

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Create `path`'s folder, call `write(file)` on a temporary file there, rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_savez(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                 compressed: bool = False) -> Path:
    """np.savez (or savez_compressed) of `arrays` to `path`, atomically."""
    save = np.savez_compressed if compressed else np.savez
    return atomic_write(path, lambda f: save(f, **arrays))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to `path`, atomically."""
    return atomic_write(path, lambda f: f.write(text.encode()))
