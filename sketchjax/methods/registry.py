"""The registry of pruning methods: name -> class (no jax imported)."""
from __future__ import annotations

import dataclasses

from sketchjax.errors import SketchjaxError

REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Add a method class under its `name` (a class decorator); one class per name.

    The class must be a frozen dataclass whose default instance hashes (the pruning loop
    compiles one round per distinct method) and whose every field is an `option(...)` (so
    the command line and the docs know it).
    """
    if not getattr(cls, "name", ""):
        raise SketchjaxError(f"{cls.__name__} needs a class attribute `name`")
    if REGISTRY.get(cls.name, cls) is not cls:
        raise SketchjaxError(f"a method named {cls.name!r} is already registered "
                             f"({REGISTRY[cls.name].__name__})")
    bare = [f.name for f in dataclasses.fields(cls) if "help" not in f.metadata]
    if bare:
        raise SketchjaxError(f"{cls.__name__}: declare {', '.join(bare)} with option(...)")
    try:
        hash(cls())
    except TypeError as err:
        raise SketchjaxError(f"{cls.__name__} must be a frozen dataclass of hashable "
                             f"options ({err})") from None
    REGISTRY[cls.name] = cls
    return cls


def method_names() -> tuple[str, ...]:
    """The registered methods' names, in registration order."""
    return tuple(REGISTRY)


def get(name: str) -> type:
    """The class registered under `name` (SketchjaxError naming the valid ones otherwise)."""
    if name not in REGISTRY:
        raise SketchjaxError(f"unknown method {name!r}; valid: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def create(name: str, **options):
    """An instance of the method registered under `name` with these options."""
    cls = get(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise SketchjaxError(f"{name} has no option(s) {', '.join(unknown)}; its options: "
                             f"{', '.join(sorted(fields))}")
    return cls(**options)


__all__ = ["REGISTRY", "create", "get", "method_names", "register"]
