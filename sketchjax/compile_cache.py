"""JAX's persistent compilation cache, on by default for the command-line tools.

A second `prune.py` / `train.py` / experiment run of the same model loads its compiled programs
from disk instead of compiling them again. The cache lives in $SKETCHJAX_COMPILE_CACHE, else
~/.cache/sketchjax/jax-compile; SKETCHJAX_COMPILE_CACHE=off (or a CLI's --no-compile-cache)
turns it off. It must be set before the first compilation, so the CLIs call `enable` first.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

ENV = "SKETCHJAX_COMPILE_CACHE"
_OFF = ("", "0", "off", "false", "no")


def cache_dir() -> Optional[Path]:
    """The cache folder the environment asks for; None when it is turned off."""
    setting = os.environ.get(ENV)
    if setting is not None and setting.strip().lower() in _OFF:
        return None
    return Path(setting).expanduser() if setting else (
        Path.home() / ".cache" / "sketchjax" / "jax-compile")


def enable(path: Optional[os.PathLike] = None) -> Optional[Path]:
    """Turn the persistent cache on (every compilation is cached, however fast); returns the
    folder, or None when it is off or the folder cannot be created (then nothing changes)."""
    folder = Path(path) if path is not None else cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    import jax
    jax.config.update("jax_compilation_cache_dir", os.fspath(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
