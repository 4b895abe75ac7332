"""Pruning methods: one small frozen dataclass each, and the registry that names them.

    from sketchjax import methods
    methods.SynFlow(density=0.05, input="chi")      # options with their defaults
    methods.get("snip")                             # the class registered under a name

A new method is one file: a frozen dataclass subclassing `OneShot` (a score at
initialization: implement `score`) or `DataScored` (a score on prune batches: implement
`data_score`), its options declared with `option(...)`, decorated with `@register`. The
command-line flags, the mask file names and the experiment presets all come from the
registry and the fields. Importing this package imports no jax.
"""
from __future__ import annotations

from sketchjax.methods.base import DataScored, Method, OneShot, ScoreInputs, option
from sketchjax.methods.registry import REGISTRY, create, get, method_names, register
# The built-in methods register on import, in this order (that of `prune.py --method`).
from sketchjax.methods.synflow import SynFlow
from sketchjax.methods.snip import SNIP
from sketchjax.methods.grasp import GraSP
from sketchjax.methods.magnitude import Magnitude
from sketchjax.methods.random import Random
from sketchjax.methods.imp import IMP

__all__ = ["DataScored", "GraSP", "IMP", "Magnitude", "Method", "OneShot", "REGISTRY",
           "Random", "SNIP", "ScoreInputs", "SynFlow", "create", "get", "method_names",
           "option", "register"]
