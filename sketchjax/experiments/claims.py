"""The paper's claims, each quoted from the paper, with our numbers, the paper's, and a verdict.

The rules (docs/experiments.md gives the reasons):
- Differences in accuracy points with 95% t intervals, paired per seed where both columns ran
  the same seeds (`experiments.stats`); across the m sub-tests of one claim, Bonferroni: every
  interval of that claim is at level 1 - 0.05/m.
- Pooled = the mean over the cells of the paper's density grid (10/5/2%); other densities are
  listed beside, never pooled or counted.
- "A is better than B": holds if the interval is above 0, does not hold if below 0; in between,
  "smaller than the paper's" if the paper's own effect lies above our interval, else "not
  resolved". "depends on density" where the effect, pooled per density, is significantly
  positive at some densities and significantly negative at others.
- "comparable (or better)": non-inferiority with a margin of 1 point: holds if the interval is
  above -1, does not hold if it is below -1.
- the paper's effect for a comparison: pooled over the cells we ran where the paper has them
  (paper scale), else over all its grid cells (another setting: the size the paper reports).
- "in most cells": holds if more than half of the k cells are significantly better (Holm's
  step-down across the k cells at the claim's level 0.05/m), or if the sign test over the
  cells' signs rejects a coin (one-sided p <= 0.05/m, ties left out); does not hold if at most
  half of the cells can be better (those significantly worse excluded) or the sign test
  rejects in the other direction; else not resolved.
- a share (claim 6): the random-data method's share of its supervised version's advantage over
  Random, with Fieller's interval; "keeps most" holds if the interval is above 1/2 (and the
  supervised version has an advantage to keep).
- "in every cell" (claim 7): every cell significantly better (an intersection-union test, no
  correction); without spreads, every cell better and the sign test.
Verdicts: HOLDS, FAILS, SMALLER, DEPENDS, UNRESOLVED, NOT_RUN and DESCRIBED (claim 9: a figure
without a testable sentence).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from sketchjax.atomic import atomic_write_text
from sketchjax.methods import GraSP

from sketchjax.experiments import stats
from sketchjax.experiments.paper_numbers import DENSITIES as GRID
from sketchjax.experiments.paper_numbers import PAPER
from sketchjax.experiments.presets import TABLE_COLUMNS
from sketchjax.experiments.stats import Diff, Sample

HOLDS, FAILS, UNRESOLVED, NOT_RUN = "holds", "does not hold", "not resolved", "not run"
SMALLER, DEPENDS, DESCRIBED = "smaller than the paper's", "depends on density", "described"
MARGIN = 1.0        # accuracy points: "comparable" means no worse by more than this
ALPHA = 0.05

CellKey = tuple[str, str, float]                     # (model, dataset, density)
Columns = Mapping[str, Mapping[str, Mapping[CellKey, Sample]]]   # table -> column -> cells


@dataclasses.dataclass
class Verdict:
    """One claim's verdict, the paper's sentence it tests, and the numbers behind it."""
    number: int
    claim: str
    quote: str
    verdict: str
    numbers: str
    details: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Part:
    """One sub-test of a claim."""
    verdict: str
    text: str
    details: list[str] = dataclasses.field(default_factory=list)


def columns_of(cells: Mapping[str, Sequence[Mapping[str, Any]]]) -> Columns:
    """report.table_cells output (table -> cell dicts) as table -> column -> cell -> Sample."""
    out: dict[str, dict[str, dict[CellKey, Sample]]] = {}
    for table, rows in cells.items():
        for c in rows:
            if c["sample"] is not None:
                out.setdefault(table, {}).setdefault(c["column"], {})[
                    (c["model"], c["dataset"], c["density"])] = c["sample"]
    return out


def paper_columns() -> Columns:
    """The paper's printed Tables 1-4 (mean, std, n = 3) in the same form."""
    out: dict[str, dict[str, dict[CellKey, Sample]]] = {}
    for (table, model, dataset, density, column), (mean, std) in PAPER.items():
        n = 1 if table == "table3" else 3     # Table 3 prints one number per cell
        out.setdefault(table, {}).setdefault(column, {})[(model, dataset, density)] = \
            Sample(mean, std, n)
    return out


# ----------------------------------------------------------------------------- formatting

def _pct(density: float) -> str:
    return f"{100 * density:g}%"


def _fmt_diff(d: Diff, level: float) -> str:
    lo, hi = d.interval(level)
    how = f"paired, {d.n} seeds" if d.paired else f"unpaired, n = {d.n}"
    if math.isnan(lo):
        return f"{d.mean:+.2f} (no interval: n = {d.n})"
    return f"{d.mean:+.2f} [{lo:+.2f}, {hi:+.2f}] ({how})"


def _cells_text(k: int) -> str:
    return f"{k} cell" + ("" if k == 1 else "s")


def _level_text(level: float) -> str:
    return f"{100 * level:.4g}%"


def _cell_line(key: CellKey, d: Diff, level: float, paper: Optional[Diff]) -> str:
    model, dataset, density = key
    line = f"{model}/{dataset} {_pct(density)}: {_fmt_diff(d, level)}"
    if paper is not None:
        line += f"; paper {paper.mean:+.2f}"
    if density not in GRID:
        line += " (outside the paper's grid: shown, not pooled)"
    return line


# ----------------------------------------------------------------------------- the tests

def _cells(columns: Columns, table: str, a: str, b: str) -> list[tuple[CellKey, Sample, Sample]]:
    ca, cb = columns.get(table, {}).get(a, {}), columns.get(table, {}).get(b, {})
    return [(key, ca[key], cb[key]) for key in ca if key in cb]


def _grid(pairs):
    return [p for p in pairs if p[0][2] in GRID]


def _same_cells(paper_pairs, ours) -> list:
    """The paper's grid cells for a comparison: those we ran where any overlap (paper scale),
    else all of them (another setting: the size of the effect the paper reports)."""
    keys = {k for k, _, _ in ours}
    overlap = [p for p in paper_pairs if p[0] in keys]
    return overlap or paper_pairs


def _paper_pooled(paper: Columns, table: str, a: str, b: str, ours) -> Optional[Diff]:
    pairs = _same_cells(_grid(_cells(paper, table, a, b)), ours)
    return stats.pooled([(x, y) for _, x, y in pairs]) if pairs else None


def _direction_split(diffs: Sequence[Diff], level: float, null: float = 0.0) -> tuple[int, int]:
    """(how many are significantly above `null`, how many significantly below)."""
    intervals = [d.interval(level) for d in diffs]
    return sum(lo > null for lo, _ in intervals), sum(hi < null for _, hi in intervals)


def _pooled_test(columns: Columns, paper: Columns, table: str, a: str, b: str, level: float,
                 rule: Callable[[Diff, float, Optional[Diff]], str]) -> Part:
    """A pooled comparison of two columns over the grid cells, judged by `rule`; the effect
    pooled per density beside it ("depends on density" where those differ significantly in
    sign around the rule's null: 0 for *better*, -MARGIN for *comparable*)."""
    pairs = _cells(columns, table, a, b)
    grid = _grid(pairs)
    if not grid:
        return Part(NOT_RUN, f"{a} - {b}: no cell of the paper's grid ran")
    pooled = stats.pooled([(x, y) for _, x, y in grid])
    paper_effect = _paper_pooled(paper, table, a, b, grid)
    verdict = rule(pooled, level, paper_effect)
    by_density: dict[float, list[tuple[Sample, Sample]]] = {}
    for (_, _, density), x, y in grid:
        by_density.setdefault(density, []).append((x, y))
    per_density = {d: stats.pooled(v) for d, v in by_density.items()}
    up, down = _direction_split(list(per_density.values()), level, NULLS[rule])
    if up and down:
        verdict = DEPENDS
    text = (f"{a} - {b} = {_fmt_diff(pooled, level)} over {_cells_text(len(grid))}"
            + (f"; paper {_fmt_diff(paper_effect, level)}" if paper_effect else ""))
    paper_cells = {k: stats.difference(x, y) for k, x, y in _cells(paper, table, a, b)}
    details = [f"{a} - {b}, " + _cell_line(k, stats.difference(x, y), level, paper_cells.get(k))
               for k, x, y in pairs]
    if any(len(v) > 1 for v in by_density.values()):
        details += [f"{a} - {b}, pooled at {_pct(d)}: {_fmt_diff(v, level)}"
                    for d, v in per_density.items()]
    return Part(verdict, text, details)


def better_rule(d: Diff, level: float, paper: Optional[Diff]) -> str:
    lo, hi = d.interval(level)
    if math.isnan(lo):
        return UNRESOLVED
    if lo > 0:
        return HOLDS
    if hi < 0:
        return FAILS
    if paper is not None and paper.mean > hi:
        return SMALLER
    return UNRESOLVED


def non_inferior_rule(d: Diff, level: float, paper: Optional[Diff]) -> str:
    lo, hi = d.interval(level)
    if math.isnan(lo):
        return UNRESOLVED
    return HOLDS if lo > -MARGIN else FAILS if hi < -MARGIN else UNRESOLVED


NULLS = {better_rule: 0.0, non_inferior_rule: -MARGIN}


def _most_cells(columns: Columns, paper: Columns, table: str, a: str, b: str,
                level: float) -> Part:
    """`a` better than `b` in most cells of the grid: counts of cells significant with Holm's
    correction across the k cells at the claim's level, and the sign test at that level."""
    pairs = _cells(columns, table, a, b)
    grid = _grid(pairs)
    if not grid:
        return Part(NOT_RUN, f"{a} vs {b}: no cell of the paper's grid ran")
    diffs = [stats.difference(x, y) for _, x, y in grid]
    k = len(diffs)
    alpha = 1 - level
    significant = stats.holm([d.p_value() for d in diffs], alpha)
    better = sum(s and d.mean > 0 for s, d in zip(significant, diffs))
    worse = sum(s and d.mean < 0 for s, d in zip(significant, diffs))
    positive, negative = sum(d.mean > 0 for d in diffs), sum(d.mean < 0 for d in diffs)
    p_up = stats.sign_test(positive, positive + negative)
    p_down = stats.sign_test(negative, positive + negative)
    if better > k / 2 or (positive > k / 2 and p_up <= alpha):
        verdict = HOLDS
    elif k - worse <= k / 2 or p_down <= alpha:
        verdict = FAILS
    else:
        verdict = UNRESOLVED
    paper_pairs = _same_cells(_grid(_cells(paper, table, a, b)), grid)
    paper_text = ""
    if paper_pairs:
        pd = [stats.difference(x, y) for _, x, y in paper_pairs]
        paper_sig = stats.holm([d.p_value() for d in pd], alpha)
        paper_text = (f"; paper: better in {sum(d.mean > 0 for d in pd)} of {len(pd)} cells, "
                      f"{sum(s and d.mean > 0 for s, d in zip(paper_sig, pd))} significantly")
    paper_cells = {kk: stats.difference(x, y) for kk, x, y in _cells(paper, table, a, b)}
    text = (f"{a} > {b} in {positive} of {_cells_text(k)} ({better} significantly, {worse} "
            f"significantly worse; sign test p = {p_up:.3g}){paper_text}")
    marks = {kk: s for (kk, _, _), s in zip(grid, significant)}
    return Part(verdict, text, [f"{a} - {b}, " + _cell_line(kk, stats.difference(x, y), level,
                                                           paper_cells.get(kk))
                                + (HOLM_MARK if marks.get(kk) else "")
                                for kk, x, y in pairs])


def _share(columns: Columns, paper: Columns, method: str, sup: str, rand: str, base: str,
           level: float) -> Part:
    """The share of `sup`'s advantage over `base` that `rand` keeps; most = above 1/2."""
    def triples(cols):
        t = cols.get("table2", {})
        keys = [k for k in t.get(rand, {}) if k in t.get(sup, {}) and k in t.get(base, {})
                and k[2] in GRID]
        return keys, [t[rand][k] for k in keys], [t[sup][k] for k in keys], \
            [t[base][k] for k in keys]
    keys, r, s, z = triples(columns)
    if not keys:
        return Part(NOT_RUN, f"{method}: no cell of the paper's grid ran")
    ratio = stats.share(r, s, z, level)
    if math.isnan(ratio.lo) or not ratio.denominator > 0:
        verdict = UNRESOLVED     # no spread, or no supervised advantage to keep a share of
    else:
        verdict = HOLDS if ratio.lo > 0.5 else FAILS if ratio.hi < 0.5 else UNRESOLVED
    pk, pr, ps, pz = triples(paper)
    if set(pk) & set(keys):      # the cells we ran, where the paper has them
        chosen = [i for i, key in enumerate(pk) if key in keys]
        pk, pr, ps, pz = ([x[i] for i in chosen] for x in (pk, pr, ps, pz))
    paper_text = ""
    if pk:
        pratio = stats.share(pr, ps, pz, level)
        paper_text = f"; paper {pratio.value:.2f} [{pratio.lo:.2f}, {pratio.hi:.2f}]"
    if ratio.denominator > 0:
        text = (f"{method} with random data keeps {ratio.value:.2f} [{ratio.lo:.2f}, "
                f"{ratio.hi:.2f}] of the supervised advantage over {base} "
                f"({_cells_text(len(keys))}){paper_text}")
    else:
        text = (f"{sup} is not above {base} here ({ratio.denominator:+.2f} points over "
                f"{_cells_text(len(keys))}): no advantage to keep a share of{paper_text}")
    details = []
    t = columns["table2"]
    for k in sorted(t.get(rand, {}), key=lambda k: (k[0], k[1], -k[2])):
        if k in t.get(sup, {}) and k in t.get(base, {}):
            adv = t[sup][k].mean - t[base][k].mean
            kept = t[rand][k].mean - t[base][k].mean
            outside = "" if k[2] in GRID else " (outside the paper's grid: not pooled)"
            details.append(f"{method} share, {k[0]}/{k[1]} {_pct(k[2])}: {kept:+.2f} of "
                           f"{adv:+.2f} points = {kept / adv:.2f}{outside}" if adv else
                           f"{method} share, {k[0]}/{k[1]} {_pct(k[2])}: no advantage{outside}")
    return Part(verdict, text, details)


def _combine(parts: Sequence[Part]) -> str:
    verdicts = [p.verdict for p in parts]
    for v in (FAILS, DEPENDS, NOT_RUN, SMALLER, UNRESOLVED):
        if v in verdicts:
            return v
    return HOLDS


HOLM_MARK = " (significant, Holm)"


def _claim(number: int, claim: str, quote: str, parts: Sequence[Part]) -> Verdict:
    """The claim's verdict from its parts; a cell listed by two parts (a pooled test and a count
    of the same comparison) is listed once, with the count's mark."""
    details: dict[str, str] = {}
    for line in (line for p in parts for line in p.details):
        key = line.replace(HOLM_MARK, "")
        details[key] = line if line.endswith(HOLM_MARK) else details.get(key, line)
    return Verdict(number, claim, quote, _combine(parts), "; ".join(p.text for p in parts),
                   list(details.values()))


def _level(m: int) -> float:
    return 1 - ALPHA / m


QUOTES = {
    1: "For SynFlow, the use of mask randomization leads to improved performance.",
    2: "Table 1 shows that replacing the thresholding with a random mask and replacing the "
       "input with the distribution derived from our analysis improve results in most cases "
       "when compared to the original SynFlow and naive data-independent SNIP.",
    3: "The combination of sparse data and mask randomization leads to superior accuracy for "
       "SNIP.",
    4: "Most accuracy results with random masks and sparse data outperform SNIP even with "
       "labeled input.",
    5: "We can see that randomized masks produce comparable and usually better results than "
       "pruning methods with random data.",
    6: "Also, it can be seen that, indeed, the performance of data dependent pruning methods is "
       "only partially explained by the use of supervised input data [...] Note that it is "
       "expected to see some degradation in accuracy since those methods are designed to work "
       "with labeled data.",
    7: "The improvement in accuracy is around 1% for all sparsities and architectures tested.",
    8: "Figure 1a shows that the magnitudes of the weights chosen by SynFlow and IMP are larger "
       "than a uniform random choice of parameters. Note that SynFlow has a stronger bias "
       "towards larger magnitudes than IMP.",
    9: "Figure 1b presents a comparison of the histogram of scores of weights chosen with "
       "SynFlow with and without randomization compared to the distribution of all the scores "
       "in the network.",
    10: "Figure 2 presents a case, where the IMP mask has an extremely high norms compared to "
        "random masks and the high norm is maintained across sparsities.",
}


def table_claims(columns: Columns, paper: Optional[Columns] = None) -> list[Verdict]:
    """Claims 1-7 from the tables' cells (`columns_of`), the paper's beside (`paper_columns`)."""
    paper = paper_columns() if paper is None else paper
    t1, t2, t4 = "table1", "table2", "table4"
    snip_rs = "SNIP + sparse data + rand. mask"
    out = [
        _claim(1, "Table 1: SynFlow + rand. mask is better than SynFlow", QUOTES[1], [
            _pooled_test(columns, paper, t1, "SynFlow + rand. mask", "SynFlow", _level(1),
                         better_rule)]),
        _claim(2, "Table 1: SynFlow + rand. mask + chi beats SynFlow, and SNIP + sparse data + "
               "rand. mask beats SNIP + normal data, in most cells", QUOTES[2], [
                   _most_cells(columns, paper, t1, "SynFlow + rand. mask + chi", "SynFlow",
                               _level(2)),
                   _most_cells(columns, paper, t1, snip_rs, "SNIP + normal data", _level(2))]),
        _claim(3, "Table 1: SNIP + sparse data + rand. mask is better than each other SNIP "
               "column", QUOTES[3], [
                   _pooled_test(columns, paper, t1, snip_rs, other, _level(3), better_rule)
                   for other in ("SNIP + normal data", "SNIP + rand. mask + normal data",
                                 "SNIP + sparse data")]),
        _claim(4, "Table 4: SNIP + sparse data + rand. mask beats supervised SNIP in most cells",
               QUOTES[4], [_most_cells(columns, paper, t4, snip_rs, "SNIP (supervised)",
                                       _level(1))]),
        _claim(5, "Table 2: the randomized GraSP and IMP with random data are no worse than "
               f"their thresholded twins (margin {MARGIN:g} point) and better in most cells",
               QUOTES[5], [
                   part for name in ("GraSP + normal data", "IMP + rand. data") for part in (
                       _pooled_test(columns, paper, t2, f"{name} + rand. mask", name, _level(4),
                                    non_inferior_rule),
                       _most_cells(columns, paper, t2, f"{name} + rand. mask", name,
                                   _level(4)))]),
        _claim(6, "Table 2: GraSP and IMP with random data keep most (over half) of their "
               "supervised versions' advantage over Random", QUOTES[6], [
                   _share(columns, paper, "GraSP", "GraSP (supervised)", "GraSP + normal data",
                          "Random", _level(2)),
                   _share(columns, paper, "IMP", "IMP (supervised)", "IMP + rand. data",
                          "Random", _level(2))]),
        _claim7(columns, paper),
    ]
    out[4].numbers += (f" (randomized GraSP samples its signed scores by the rule "
                       f"'{grasp_weighting()}'; table2_grasp compares the rules)")
    return out


def grasp_weighting() -> str:
    """The signed-score weighting of Table 2's randomized GraSP column."""
    column = next(c for c in TABLE_COLUMNS["table2"]
                  if c.name == "GraSP + normal data + rand. mask")
    return column.options.get("signed_weighting", GraSP.signed_weighting)


def _claim7(columns: Columns, paper: Columns) -> Verdict:
    """Every Tiny-ImageNet cell of Table 3 improves (about 1 point)."""
    claim = ("Table 3 (Tiny-ImageNet): SynFlow + rand. mask beats SynFlow in every cell (the "
             "size, ~1 point in the paper, is reported, not tested)")
    pairs = [p for p in _grid(_cells(columns, "table3", "SynFlow + rand. mask", "SynFlow"))
             if p[0][1] == "tiny_imagenet"]
    if not pairs:
        return Verdict(7, claim, QUOTES[7], NOT_RUN, "its setting (Tiny-ImageNet, Table 3) is "
                       "not part of this scale")
    diffs = [stats.difference(x, y) for _, x, y in pairs]
    intervals = [d.interval(0.95) for d in diffs]
    if all(not math.isnan(lo) for lo, _ in intervals):
        verdict = (HOLDS if all(lo > 0 for lo, _ in intervals) else
                   FAILS if any(hi < 0 for _, hi in intervals) else UNRESOLVED)
        how = "every cell's 95% interval above 0"
    else:
        positive = sum(d.mean > 0 for d in diffs)
        p = stats.sign_test(positive, len(diffs))
        verdict = HOLDS if positive == len(diffs) and p <= ALPHA else \
            FAILS if positive < len(diffs) else UNRESOLVED
        how = f"no spreads: better in {positive} of {len(diffs)} cells, sign test p = {p:.3g}"
    mean = sum(d.mean for d in diffs) / len(diffs)
    return Verdict(7, claim, QUOTES[7], verdict,
                   f"SynFlow + rand. mask - SynFlow: mean {mean:+.2f}, from "
                   f"{min(d.mean for d in diffs):+.2f} to {max(d.mean for d in diffs):+.2f} "
                   f"points over {len(diffs)} cells ({how})",
                   [_cell_line(k, d, 0.95, None) for (k, _, _), d in zip(pairs, diffs)])


def figure_claims(figures: Mapping[str, Optional[Mapping[str, Any]]]) -> list[Verdict]:
    """Claims 8-10 from the figures' numbers (None: the figure was not made)."""
    return [_claim8(figures.get("fig1a")), _claim9(figures.get("fig1b")),
            _claim10(figures.get("fig2"))]


def _claim8(f1a: Optional[Mapping[str, Any]]) -> Verdict:
    claim = ("Fig. 1a: SynFlow and IMP keep larger-magnitude weights than a uniform random "
             "mask, SynFlow more than IMP (raw |θ₀| and |θ₀| relative to its layer's mean "
             "agree)")
    if f1a is None:
        return Verdict(8, claim, QUOTES[8], NOT_RUN, "fig1a not made")
    methods = f1a["methods"]
    level = _level(3)
    parts, details = [], []
    for a, b in (("SynFlow", "Random"), ("IMP", "Random"), ("SynFlow", "IMP")):
        verdicts, texts = [], []
        for metric, label in (("mean_abs", "raw"), ("relative_to_layer", "layer-relative")):
            sa = Sample.of_seeds(dict(enumerate(methods[a][metric])))
            sb = Sample.of_seeds(dict(enumerate(methods[b][metric])))
            d = stats.difference(sa, sb)
            verdicts.append(better_rule(d, level, None))
            lo, hi = d.interval(level)
            texts.append(f"{label} {d.mean:+.4f} [{lo:+.4f}, {hi:+.4f}]" if not math.isnan(lo)
                         else f"{label} {d.mean:+.4f}")
        verdict = verdicts[0] if verdicts[0] == verdicts[1] else UNRESOLVED
        parts.append(Part(verdict, f"{a} - {b}: " + ", ".join(texts)))
    details.append("mean |θ₀| of kept weights per seed: " + "; ".join(
        f"{m} " + ", ".join(f"{v:.4f}" for v in methods[m]["mean_abs"]) for m in methods))
    v = _claim(8, claim, QUOTES[8], parts)
    v.numbers += f" ({f1a['seeds']} seeds, paired, {_level_text(level)} intervals)"
    v.details = details
    return v


def _claim9(f1b: Optional[Mapping[str, Any]]) -> Verdict:
    claim = "Fig. 1b: the SynFlow scores kept with and without randomization, and all scores"
    if f1b is None:
        return Verdict(9, claim, QUOTES[9], NOT_RUN, "fig1b not made")
    parts = []
    for label, s in f1b["sets"].items():
        spreads = s["spread_per_seed"]
        sample = Sample.of_seeds(dict(enumerate(spreads)))
        spread = f"{sample.mean:.4f}" + (f" ± {sample.std:.4f}" if sample.std is not None
                                         else " (n = 1)")
        parts.append(f"{label}: median log10 score {s['median_log10_mean']:.2f}, std of log10 "
                     f"score {spread}")
    return Verdict(9, claim, QUOTES[9], DESCRIBED,
                   "; ".join(parts) + f" (over {f1b['seeds']} seeds; the paper states no "
                   "testable claim about this figure, so it is described, not judged)")


def _claim10(f2: Optional[Mapping[str, Any]]) -> Verdict:
    claim = ("Fig. 2: the IMP ticket's norm is far above that of random masks of the same "
             "per-layer density, at every density")
    if f2 is None:
        return Verdict(10, claim, QUOTES[10], NOT_RUN, "fig2 not made")
    levels = f2["levels"]
    zs = [(r["ticket"] - r["random_mean"]) / r["random_std"] if r["random_std"] > 0
          else math.inf for r in levels]
    above = sum(r["above_all"] for r in levels)
    verdict = HOLDS if above == len(levels) else FAILS if above == 0 else UNRESOLVED
    return Verdict(10, claim, QUOTES[10], verdict,
                   f"ticket above every random mask at {above} of {len(levels)} levels; "
                   f"z = (ticket - mean) / std from {min(zs):.1f} to {max(zs):.1f}",
                   [f"level {r['level']} ({100 * r['density']:.2f}%): ticket "
                    f"{r['ticket']:.3f}, random {r['random_mean']:.3f} ± "
                    f"{r['random_std']:.3f} (max {r['random_max']:.3f})" for r in levels])


RULES = (
    "Verdict rules (docs/experiments.md gives the reasons): differences in accuracy points with "
    "two-sided t intervals, paired per seed (seed s has the same θ₀ and data order in every "
    "column); the sub-tests of one claim share a Bonferroni level, 1 - 0.05/m. Pooled = the mean "
    "over the paper's grid 10/5/2%; other densities are shown, never pooled or counted. "
    "*better*: holds above 0, does not hold below 0, 'smaller than the paper's' where the "
    "paper's own effect lies above our interval; *comparable*: non-inferiority, interval above "
    f"-{MARGIN:g} point; *most cells*: more than half significantly better or the sign test; "
    "'depends on density' where the per-density effects differ significantly in sign.")


def render_claims(verdicts: Sequence[Verdict], scale: str, note: str = "") -> str:
    lines = [f"# The paper's claims at scale `{scale}`", ""]
    if note:
        lines += [note, ""]
    lines += ["| # | claim | verdict | numbers (ours; the paper's beside) |", "|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v.number} | {v.claim} | **{v.verdict}** | {v.numbers} |")
    lines += ["", RULES, ""]
    for v in verdicts:
        lines += [f"### Claim {v.number}", "", f"> {v.quote}", ""]
        lines += [f"- {d}" for d in v.details] + [""]
    return "\n".join(lines)


def write_claims(verdicts: Sequence[Verdict], scale: str, folder, note: str = "") -> Path:
    return atomic_write_text(Path(folder) / "claims.md", render_claims(verdicts, scale, note))
