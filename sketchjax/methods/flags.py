"""Command-line flags generated from the registered methods' options (no jax imported).

Every option field of every registered method becomes one flag (`option(flag=...)`, else
"--" + the field name with dashes); methods that share an option share its flag. A flag left
out keeps each method's own default; a flag the chosen method does not have is an error.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from sketchjax.errors import SketchjaxError
from sketchjax.methods.registry import REGISTRY


def _flag(f: dataclasses.Field) -> str:
    """The option's flag: its own, else "--" + the name with dashes ("--no-" + the name for
    an option that is on by default)."""
    if f.metadata.get("flag"):
        return f.metadata["flag"]
    return ("--no-" if f.default is True else "--") + f.name.replace("_", "-")


def _value_type(cls: type, f: dataclasses.Field):
    """The option's value type from its annotation (Optional[...] unwrapped)."""
    t = typing.get_type_hints(cls)[f.name]
    args = [a for a in typing.get_args(t) if a is not type(None)]
    return args[0] if args else t


def _cli_fields() -> dict[str, list[tuple[type, dataclasses.Field]]]:
    """flag -> [(method class, field)] over the registered methods, in registration order."""
    by_flag: dict[str, list[tuple[type, dataclasses.Field]]] = {}
    for cls in REGISTRY.values():
        for f in dataclasses.fields(cls):
            if f.metadata.get("cli", False):
                by_flag.setdefault(_flag(f), []).append((cls, f))
    for flag, uses in by_flag.items():
        kinds = {(g.name, _value_type(c, g), g.metadata.get("const"), isinstance(g.default, bool))
                 for c, g in uses}
        if len(kinds) > 1:
            raise SketchjaxError(f"{flag} is declared differently by "
                                 f"{', '.join(c.__name__ for c, _ in uses)}")
    return by_flag


def _help(uses: list[tuple[type, dataclasses.Field]]) -> str:
    """One help line: the option's text (prefixed by its methods where texts differ, or
    where not every method has it) and its default where all its methods share one."""
    by_text: dict[str, list[str]] = {}
    for cls, f in uses:
        by_text.setdefault(f.metadata["help"], []).append(cls.name)
    if len(by_text) == 1 and len(uses) == len(REGISTRY):
        text = next(iter(by_text))
    else:
        text = "; ".join(f"{', '.join(names)}: {t}" for t, names in by_text.items())
    f = uses[0][1]
    if (len({repr(g.default) for _, g in uses}) == 1 and f.default is not None
            and f.default is not False
            and f.metadata.get("const") is None):
        text += f" (default: {f.default})"
    return text.replace("%", "%%")


def add_method_flags(parser) -> None:
    """Add one flag per option of the registered methods (see the module docstring)."""
    for flag, uses in _cli_fields().items():
        cls, f = uses[0]
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS,
                                  "help": _help(uses)}
        if f.metadata.get("const") is not None:
            kwargs.update(action="store_const", const=f.metadata["const"])
        elif isinstance(f.default, bool):
            kwargs.update(action="store_false" if f.default else "store_true")
        else:
            kwargs["type"] = _value_type(cls, f)
            choices = [c for _, g in uses for c in (g.metadata.get("choices") or ())
                       if c is not None]
            if choices:
                kwargs["choices"] = list(dict.fromkeys(choices))
        parser.add_argument(flag, **kwargs)


def method_from_args(name: str, args: argparse.Namespace):
    """The method `name` with the options given on the command line (the rest default);
    SketchjaxError for a flag the method does not have."""
    cls = REGISTRY[name]
    flags = {f.name: flag for flag, uses in _cli_fields().items() for _, f in uses}
    given = {dest: value for dest, value in vars(args).items() if dest in flags}
    own = {f.name for f in dataclasses.fields(cls) if f.metadata.get("cli", False)}
    for dest in sorted(set(given) - own):
        raise SketchjaxError(f"{flags[dest]} does not apply to --method {name}")
    return cls(**given)


__all__ = ["add_method_flags", "method_from_args"]
