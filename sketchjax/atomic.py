"""Atomic file writes (a temporary file beside the target, then a rename), and the check,
made before any work, that a target can be written.

An interrupted run never leaves a half-written mask, checkpoint, cache or report.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Mapping

import numpy as np

from sketchjax.errors import SketchjaxError


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Check that `path` (a file, or a folder if `folder`) can be written; create nothing.

    The nearest existing ancestor must be a folder in which a file can really be created
    (a temporary file is made and removed: `os.access` says yes for root on /proc).

    Raises:
      SketchjaxError: one message naming the path and the reason.
    """
    path = Path(path).expanduser()
    what = "folder" if folder else "file"
    if folder and path.exists() and not path.is_dir():
        raise SketchjaxError(f"output folder {path} exists and is not a folder")
    if not folder and path.is_dir():
        raise SketchjaxError(f"output file {path} is a folder; give a file name")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SketchjaxError(f"cannot write the {what} {path}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise SketchjaxError(f"cannot write the {what} {path}: {existing} is not writable "
                             f"({err.strerror or err})") from None
    return path


def _umask() -> int:
    """The process's umask: read from /proc where it is there (setting it to read it, the
    fallback, changes it for every thread for an instant)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Create `path`'s folder, call `write(file)` on a temporary file there, rename it.

    The file gets the mode a plain `open` would give (0666 less the umask), not mkstemp's
    0600, so results written into a shared folder are readable by the group as usual.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())     # os.fchmod is not on every platform
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
