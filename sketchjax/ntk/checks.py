"""The checks of the verify scripts: one checked statement per `Check`, the z-score and
formatting helpers, the summary.json/.md/PNG outputs, and the runner behind both CLIs.

`ntk.verify_linear` and `ntk.verify_theorem72` run through `cli_main` (parse, check the values:
one error line and exit 2 on a bad one), which hands `run_checks` a function that builds the
list of Checks and the figures; it writes OUT/summary.json, OUT/summary.md and one PNG per
figure and returns the exit status: 0 when every must-hold statement holds, 1 when one fails;
--report-only always gives 0.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import sys
from typing import Any, Callable, Sequence

import numpy as np

from sketchjax.atomic import atomic_write, atomic_write_text
from sketchjax.errors import SketchjaxError

Z_MAX = 4.0          # Monte Carlo agreement: within 4 standard errors
FLOAT_TOL = 1e-4     # float32 identities, relative


def nan_max(values) -> float:
    """The largest value, nan if any is nan: Python's max drops a nan that is not first, which
    would let a broken estimate pass a check."""
    return float(np.max(np.asarray(list(values), np.float64)))


# ============================================================================================
# Flags.

def parse_list(text: str, kind: Callable, name: str, low=None, high=None,
               low_open: bool = False) -> list:
    """'1,2,3' -> [1, 2, 3] of `kind`, each in [low, high] ((low, high] if low_open); sorted,
    unique. SketchjaxError names the flag when a value is malformed or out of range."""
    try:
        values = [kind(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise SketchjaxError(f"{name} must be a comma-separated list of {kind.__name__}s; "
                             f"got {text!r}") from None
    if not values:
        raise SketchjaxError(f"{name} is empty")
    for v in values:
        if (not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low))
                or (high is not None and v > high)):
            interval = (f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}"
                        f"{']' if high is not None else ')'}")
            raise SketchjaxError(f"{name}: {v} is outside {interval}")
    return sorted(set(values))


# ============================================================================================
# Checks.

@dataclasses.dataclass
class Check:
    """One checked statement: a row of summary.json / summary.md."""
    id: str
    statement: str
    holds: bool
    measured: float | None
    bound: float | None
    must_hold: bool = True
    settings: dict = dataclasses.field(default_factory=dict)
    note: str = ""
    details: Any = None

    def __post_init__(self):
        # Comparisons of numpy scalars give np.bool_, which `is True` would not count.
        self.holds = bool(self.holds)

    @property
    def ratio(self) -> float | None:
        if self.measured is None or self.bound is None:
            return None
        if self.bound == 0:
            return 0.0 if self.measured == 0 else math.inf
        return self.measured / self.bound

    @property
    def failed(self) -> bool:
        return self.must_hold and not self.holds

    def to_json(self) -> dict:
        out = {"id": self.id, "statement": self.statement, "holds": self.holds,
               "must_hold": self.must_hold, "measured": self.measured, "bound": self.bound,
               "ratio": self.ratio, "settings": self.settings, "note": self.note}
        if self.details is not None:
            out["details"] = self.details
        return jsonable(out)


def fail_on_error(check_id: str, statement: str):
    """Decorator for a function returning a list of Checks: an exception it raises becomes one
    failed must-hold Check (the error in its note), so a broken library fails the run instead of
    being skipped."""
    def decorate(compute: Callable[..., list[Check]]) -> Callable[..., list[Check]]:
        @functools.wraps(compute)
        def guarded(*args, **kwargs) -> list[Check]:
            try:
                return compute(*args, **kwargs)
            except Exception as err:  # any error, whatever its type, is a failed statement
                return [Check(check_id, statement, False, None, None,
                              note=f"error: {type(err).__name__}: {err}")]
        return guarded
    return decorate


def z_score(mc_mean, mc_se, exact) -> float:
    """(Monte Carlo mean - exact) / standard error; 0 when both agree exactly, inf when they
    differ with a zero standard error."""
    diff = float(mc_mean) - float(exact)
    if mc_se == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / float(mc_se)


# ============================================================================================
# Outputs.

def jsonable(x):
    """Numbers as plain floats, non-finite ones as the strings 'inf', '-inf', 'nan'."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else ("nan" if math.isnan(x) else
                                           ("inf" if x > 0 else "-inf"))
    if hasattr(x, "shape") and hasattr(x, "dtype"):   # a 0-d jax or numpy array
        return jsonable(np.asarray(x).tolist())
    return x


def fmt(x, digits: int = 4) -> str:
    """A number for a table: 4 significant digits, 'inf', '-' for None."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "NO"
    x = float(x)
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.{digits}g}"


def _settings_text(settings: dict) -> str:
    parts = []
    for k, v in settings.items():
        if isinstance(v, (list, tuple)):
            v = ",".join(fmt(a, 3) if isinstance(a, float) else str(a) for a in v)
        elif isinstance(v, float):
            v = fmt(v, 3)
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    """Text for a markdown table cell: pipes escaped."""
    return str(text).replace("|", "\\|")


def checks_markdown(checks: Sequence[Check]) -> str:
    """The checks as a markdown table."""
    lines = ["| id | statement | holds | must hold | measured | bound | ratio | settings |",
             "|---|---|---|---|---|---|---|---|"]
    for c in checks:
        statement = c.statement + (f" ({c.note})" if c.note else "")
        lines.append(f"| {_cell(c.id)} | {_cell(statement)} | "
                     f"{'yes' if c.holds else '**NO**'} | "
                     f"{'yes' if c.must_hold else 'no'} | {fmt(c.measured)} | {fmt(c.bound)} | "
                     f"{fmt(c.ratio, 3)} | {_cell(_settings_text(c.settings))} |")
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: str, checks: Sequence[Check], figures: dict, title: str,
                  preamble: str = "", extra_md: str = "") -> list[str]:
    """summary.json, summary.md and one PNG per figure, each written atomically.

    Returns the paths written.
    """
    os.makedirs(out_dir, exist_ok=True)
    written = []
    json_path = os.path.join(out_dir, "summary.json")

    atomic_write_text(json_path, json.dumps([c.to_json() for c in checks], indent=1,
                                            allow_nan=False) + "\n")
    written.append(json_path)

    md_path = os.path.join(out_dir, "summary.md")
    text = f"## {title}\n\n" + (preamble + "\n\n" if preamble else "") + checks_markdown(checks)
    if extra_md:
        text += "\n" + extra_md
    atomic_write_text(md_path, text)
    written.append(md_path)

    for name, fig in figures.items():
        path = os.path.join(out_dir, name)
        atomic_write(path, lambda f, fig=fig: fig.savefig(f, format="png", dpi=120,
                                                          bbox_inches="tight"))
        written.append(path)
    return written


def finish(prog: str, checks: Sequence[Check], report_only: bool, written: Sequence[str]) -> int:
    """Print the verdict; the exit status (1 if a must-hold statement failed)."""
    failed = [c for c in checks if c.failed]
    informative = [c for c in checks if not c.must_hold and not c.holds]
    print(f"{prog}: {sum(c.holds for c in checks)}/{len(checks)} statements hold; "
          f"wrote {', '.join(written)}")
    for c in informative:
        print(f"  as printed in the paper, does not hold (expected, see note): {c.id}: "
              f"measured {fmt(c.measured)} vs bound {fmt(c.bound)} (ratio {fmt(c.ratio, 3)})")
    for c in failed:
        print(f"  FAILED {c.id}: {c.statement}: measured {fmt(c.measured)} vs bound "
              f"{fmt(c.bound)} (ratio {fmt(c.ratio, 3)}) {_settings_text(c.settings)}"
              + (f" ({c.note})" if c.note else ""), file=sys.stderr)
    if failed and not report_only:
        return 1
    return 0


def cli_main(prog: str, parser: argparse.ArgumentParser, check_args: Callable,
             run: Callable, argv=None) -> int:
    """A check's command line: parse (argparse's own errors as usual), check the values
    (`check_args` raises SketchjaxError: one line `prog: error: ...`, exit 2, nothing
    written), then `run_checks`."""
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except SketchjaxError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return run_checks(prog, run, args)


def run_checks(prog: str, run: Callable, args: argparse.Namespace) -> int:
    """Run the checks for validated flags, write the outputs, print the table and the verdict.

    `run(args)` returns (checks, figures, title, preamble, extra_md). Returns the exit status.
    """
    import matplotlib
    matplotlib.use("Agg")
    checks, figures, title, preamble, extra_md = run(args)
    written = write_outputs(args.out, checks, figures, title, preamble, extra_md)
    print(checks_markdown(checks))
    if extra_md:
        print(extra_md)
    return finish(prog, checks, args.report_only, written)
