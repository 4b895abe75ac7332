"""The paper's ten claims (experiments spec), each with our numbers and a verdict.

Differences are pooled over the cells (model, dataset, density) where both sides ran: the mean
of the per-cell differences of mean accuracy, with standard error sqrt(sum se_cell^2) / cells.
Verdicts:
- a claim that one variant is *better*: "holds" if the pooled difference exceeds +2 SE, "does
  not hold" if it is below -2 SE, "not resolved" in between;
- a claim that one is *at least as good as* / *comparable to* another: "holds" unless the pooled
  difference is below -2 SE ("does not hold"); within +-2 SE the two are comparable;
- "not run" where a side has no finished runs at this scale; "not resolved" with one seed
  (no spread to judge a difference by).
The per-cell differences are listed with each claim, so a reader can see where it holds.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sketchjax.atomic import atomic_write_text

from experiments.report import Stats, difference

HOLDS, FAILS, UNRESOLVED, NOT_RUN = "holds", "does not hold", "not resolved", "not run"


@dataclasses.dataclass
class Verdict:
    """One claim's verdict and the numbers behind it."""
    number: int
    claim: str
    verdict: str
    numbers: str
    details: list[str] = dataclasses.field(default_factory=list)


Cells = Mapping[str, Sequence[Mapping[str, Any]]]   # table -> cells (report.table_cells)


def _stats(cells: Cells, table: str, column: str) -> dict[tuple, Stats]:
    return {(c["model"], c["dataset"], c["density"]): c["stats"] for c in cells.get(table, ())
            if c["column"] == column and c["stats"] is not None}


def _pairs(cells: Cells, a: tuple[str, str], b: tuple[str, str]) -> list[tuple[tuple, float,
                                                                                 float]]:
    """(cell, difference a - b, its SE) for every cell where both columns ran."""
    sa, sb = _stats(cells, *a), _stats(cells, *b)
    return [(key, *difference(sa[key], sb[key])) for key in sa if key in sb]


def _pooled(pairs: Sequence[tuple[tuple, float, float]]) -> tuple[float, float]:
    diffs = [d for _, d, _ in pairs]
    return sum(diffs) / len(diffs), math.sqrt(sum(se ** 2 for _, _, se in pairs)) / len(pairs)


def _better(diff: float, se: float) -> str:
    if math.isnan(se):          # one seed: no spread to judge a difference by
        return UNRESOLVED
    return HOLDS if diff > 2 * se else FAILS if diff < -2 * se else UNRESOLVED


def _at_least(diff: float, se: float) -> str:
    if math.isnan(se):
        return UNRESOLVED
    return FAILS if diff < -2 * se else HOLDS


def _cell_lines(pairs) -> list[str]:
    return [f"{model}/{dataset} {100 * density:g}%: {d:+.2f} ± {se:.2f}"
            + (" *" if abs(d) > 2 * se else "") for (model, dataset, density), d, se in pairs]


def _compare(number: int, claim: str, cells: Cells, a: tuple[str, str], b: tuple[str, str],
             rule) -> Verdict:
    pairs = _pairs(cells, a, b)
    if not pairs:
        return Verdict(number, claim, NOT_RUN, f"{a[1]} vs {b[1]}: no cells ran")
    diff, se = _pooled(pairs)
    better = sum(d > 2 * s for _, d, s in pairs)
    worse = sum(d < -2 * s for _, d, s in pairs)
    return Verdict(number, claim, rule(diff, se),
                   f"{a[1]} - {b[1]} = {diff:+.2f} ± {se:.2f} points over {len(pairs)} cells "
                   f"({better} significantly better, {worse} significantly worse)",
                   _cell_lines(pairs))


def _all_of(number: int, claim: str, parts: Sequence[Verdict]) -> Verdict:
    """A claim made of several comparisons: holds if all hold; fails if any fails."""
    verdicts = [p.verdict for p in parts]
    if NOT_RUN in verdicts:
        verdict = NOT_RUN
    elif FAILS in verdicts:
        verdict = FAILS
    elif all(v == HOLDS for v in verdicts):
        verdict = HOLDS
    else:
        verdict = UNRESOLVED
    return Verdict(number, claim, verdict, "; ".join(p.numbers for p in parts),
                   [line for p in parts for line in p.details])


def table_claims(cells: Cells) -> list[Verdict]:
    """Claims 1-7, from the tables' cells."""
    t1, t2, t3, t4 = "table1", "table2", "table3", "table4"
    out = [
        _compare(1, "Table 1: mask randomization improves SynFlow", cells,
                 (t1, "SynFlow + rand. mask"), (t1, "SynFlow"), _better),
        _compare(2, "Table 1: the chi input (alone or with randomization) is at least as good "
                 "as the all-ones input", cells, (t1, "SynFlow + chi"), (t1, "SynFlow"),
                 _at_least),
        _all_of(3, "Table 1: SNIP with sparse data + rand. mask beats SNIP with normal data and "
                "SNIP with sparse data", [
                    _compare(3, "", cells, (t1, "SNIP + sparse data + rand. mask"),
                             (t1, "SNIP + normal data"), _better),
                    _compare(3, "", cells, (t1, "SNIP + sparse data + rand. mask"),
                             (t1, "SNIP + sparse data"), _better)]),
        _compare(4, "Tables 1 and 4: SNIP with random masks and sparse data beats supervised "
                 "SNIP", cells, (t4, "SNIP + sparse data + rand. mask"),
                 (t4, "SNIP (supervised)"), _better),
        _all_of(5, "Table 2: with random data, the randomized variants are comparable to or "
                "better than their thresholded twins", [
                    _compare(5, "", cells, (t2, "GraSP + normal data + rand. mask"),
                             (t2, "GraSP + normal data"), _at_least),
                    _compare(5, "", cells, (t2, "IMP + rand. data + rand. mask"),
                             (t2, "IMP + rand. data"), _at_least)]),
        _all_of(6, "Table 2: GraSP and IMP with random data lose accuracy against their "
                "supervised versions, but only partly (they stay above Random)", [
                    _compare(6, "", cells, (t2, "GraSP (supervised)"),
                             (t2, "GraSP + normal data"), _better),
                    _compare(6, "", cells, (t2, "IMP (supervised)"), (t2, "IMP + rand. data"),
                             _better),
                    _compare(6, "", cells, (t2, "GraSP + normal data"), (t2, "Random"),
                             _better),
                    _compare(6, "", cells, (t2, "IMP + rand. data"), (t2, "Random"),
                             _better)]),
        _compare(7, "Table 3: SynFlow + rand. mask gains about 1 point at every density and "
                 "model", cells, (t3, "SynFlow + rand. mask"), (t3, "SynFlow"), _better),
    ]
    chi_with_mask = _compare(2, "", cells, (t1, "SynFlow + rand. mask + chi"),
                             (t1, "SynFlow + rand. mask"), _at_least)
    out[1] = _all_of(2, out[1].claim, [out[1], chi_with_mask])
    return out


def figure_claims(figures: Mapping[str, Optional[Mapping[str, Any]]]) -> list[Verdict]:
    """Claims 8-10, from the figures' numbers (None: the figure was not made)."""
    out = []
    f1a = figures.get("fig1a")
    claim8 = ("Fig. 1a: SynFlow and IMP keep larger-magnitude weights than uniform random; "
              "SynFlow more than IMP")
    if f1a is None:
        out.append(Verdict(8, claim8, NOT_RUN, "fig1a not made"))
    else:
        stats = {m: Stats.of(v["mean_abs"]) for m, v in f1a["methods"].items()}
        parts = []
        for a, b in (("SynFlow", "Random"), ("IMP", "Random"), ("SynFlow", "IMP")):
            diff, se = difference(stats[a], stats[b])
            parts.append(Verdict(8, "", _better(diff, se) if stats[a].n > 1 else
                                 (HOLDS if diff > 0 else FAILS),
                                 f"mean |θ₀| {a} - {b} = {diff:+.4f} ± {se:.4f}"))
        verdict = _all_of(8, claim8, parts)
        verdict.numbers += ("; mean |θ₀| of kept weights: " + ", ".join(
            f"{m} {s.mean:.4f}" for m, s in stats.items()) + f" ({f1a['seeds']} seed(s); "
            "relative to their layer's mean: " + ", ".join(
                f"{m} {sum(v['relative_to_layer']) / len(v['relative_to_layer']):.3f}"
                for m, v in f1a["methods"].items()) + ")")
        out.append(verdict)
    f1b = figures.get("fig1b")
    claim9 = "Fig. 1b: the randomized SynFlow mask keeps a wider spread of scores than the " \
             "thresholded one"
    if f1b is None:
        out.append(Verdict(9, claim9, NOT_RUN, "fig1b not made"))
    else:
        r, t = f1b["sets"]["kept, randomized"], f1b["sets"]["kept, threshold"]
        diff = r["spread"] - t["spread"]
        se = math.sqrt(r["spread_se"] ** 2 + t["spread_se"] ** 2)
        out.append(Verdict(9, claim9, _better(diff, se),
                           f"std of log10 score of kept weights: randomized {r['spread']:.3f}, "
                           f"threshold {t['spread']:.3f}, all weights "
                           f"{f1b['sets']['all weights']['spread']:.3f}; difference "
                           f"{diff:+.3f} ± {se:.3f} (bootstrap)"))
    f2 = figures.get("fig2")
    claim10 = ("Fig. 2: the IMP ticket's norm is far above that of random masks of the same "
               "per-layer density, at every density")
    if f2 is None:
        out.append(Verdict(10, claim10, NOT_RUN, "fig2 not made"))
    else:
        levels = f2["levels"]
        zs = [(r["ticket"] - r["random_mean"]) / r["random_std"] if r["random_std"] > 0
              else math.inf for r in levels]
        above = sum(r["above_all"] for r in levels)
        verdict = HOLDS if above == len(levels) else FAILS if above == 0 else UNRESOLVED
        out.append(Verdict(10, claim10, verdict,
                           f"ticket above every random mask at {above} of {len(levels)} levels; "
                           f"z = (ticket - mean) / std from {min(zs):.1f} to {max(zs):.1f}",
                           [f"level {r['level']} ({100 * r['density']:.2f}%): ticket "
                            f"{r['ticket']:.3f}, random {r['random_mean']:.3f} ± "
                            f"{r['random_std']:.3f} (max {r['random_max']:.3f})"
                            for r in levels]))
    return out


def render_claims(verdicts: Sequence[Verdict], scale: str, note: str = "") -> str:
    lines = [f"# The paper's claims at scale `{scale}`", ""]
    if note:
        lines += [note, ""]
    lines += ["| # | claim | verdict | numbers |", "|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v.number} | {v.claim} | **{v.verdict}** | {v.numbers} |")
    lines += ["", "Verdict rules: a claim that one variant is better holds when the pooled "
              "difference exceeds two standard errors, does not hold below minus two, and is not "
              "resolved in between; a claim of 'at least as good' / 'comparable' holds unless "
              "the difference is below minus two standard errors. Differences in accuracy "
              "points, pooled over the cells where both sides ran.", ""]
    for v in verdicts:
        if v.details:
            lines += [f"### Claim {v.number}: per cell", ""] + [f"- {d}" for d in v.details] + [""]
    return "\n".join(lines)


def write_claims(verdicts: Sequence[Verdict], scale: str, folder, note: str = "") -> Path:
    return atomic_write_text(Path(folder) / "claims.md", render_claims(verdicts, scale, note))
