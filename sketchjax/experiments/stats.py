"""The statistics behind the verdicts: differences of accuracy with t intervals, paired where
seeds pair, pooled over cells, counts of cells with the sign test, and ratios (Fieller).

A `Sample` is one cell of one column: its per-seed accuracies (our runs) or only a mean, a
sample std and n (the paper's printed cells). A `Diff` is a difference a - b in accuracy points
with its standard error and degrees of freedom:

- paired (`paired`): both sides ran the same seeds, and seed s gives the same theta_0 and
  data order in every column, so d_s = a_s - b_s; se = sd(d) / sqrt(n), df = n - 1;
- unpaired (`welch`): the paper's cells (no per-seed values): se^2 = sa^2/na + sb^2/nb, Welch-
  Satterthwaite df;
- pooled over cells (`pooled`): with per-seed values in every cell, the per-seed mean over
  cells of d_s, then as paired (the seed is the unit of replication); otherwise the mean of the
  cell differences with se = sqrt(sum se_i^2) / k and Satterthwaite df.

Every interval is a two-sided t interval at the level asked for. docs/experiments.md states the
rules that read them.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Optional, Sequence

from scipy import stats as _st


@dataclasses.dataclass(frozen=True)
class Sample:
    """One cell of one column: per-seed accuracies in % (None for a printed summary), mean, sample
    std (None: not printed) and n."""
    mean: float
    std: Optional[float]
    n: int
    per_seed: Optional[Mapping[int, float]] = None

    @classmethod
    def of_seeds(cls, per_seed: Mapping[int, float]) -> Optional["Sample"]:
        if not per_seed:
            return None
        values = list(per_seed.values())
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        return cls(mean, std, n, dict(per_seed))

    @property
    def se(self) -> float:
        """Standard error of the mean; nan without a spread (one seed, or no std printed)."""
        return self.std / math.sqrt(self.n) if self.std is not None and self.n > 1 else math.nan


@dataclasses.dataclass(frozen=True)
class Diff:
    """a - b in accuracy points: mean, standard error, degrees of freedom (nan: no spread)."""
    mean: float
    se: float
    df: float
    paired: bool
    n: int

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The two-sided t interval; (nan, nan) without a spread."""
        if not (self.se >= 0 and self.df > 0):
            return math.nan, math.nan
        half = t_quantile(level, self.df) * self.se
        return self.mean - half, self.mean + half


    def p_value(self) -> float:
        """Two-sided p-value of a zero difference (nan without a spread)."""
        if not (self.se >= 0 and self.df > 0):
            return math.nan
        if self.se == 0:
            return 0.0 if self.mean != 0 else 1.0
        return float(2 * _st.t.sf(abs(self.mean) / self.se, self.df))


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected with family-wise error <= alpha
    (nan p-values are never rejected)."""
    order = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    rejected = [False] * len(p_values)
    for rank, (p, i) in enumerate(order):
        if p > alpha / (len(order) - rank):
            break
        rejected[i] = True
    return rejected


def t_quantile(level: float, df: float) -> float:
    """The (1 + level) / 2 quantile of Student's t with df degrees of freedom."""
    return float(_st.t.ppf((1 + level) / 2, df))


def _from_differences(d: Sequence[float]) -> Diff:
    n = len(d)
    mean = sum(d) / n
    if n < 2:
        return Diff(mean, math.nan, math.nan, True, n)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    return Diff(mean, sd / math.sqrt(n), n - 1, True, n)


def _satterthwaite(variances: Sequence[float], dfs: Sequence[float]) -> float:
    """Degrees of freedom of a sum of independent variance estimates (nan if one is unknown)."""
    if any(math.isnan(v) for v in variances):
        return math.nan
    total = sum(variances)
    if total == 0:
        return math.inf
    return total ** 2 / sum(v ** 2 / df for v, df in zip(variances, dfs) if v > 0)


def common_seeds(a: Sample, b: Sample) -> list[int]:
    """The seeds both sides ran (empty when either is a printed summary)."""
    if a.per_seed is None or b.per_seed is None:
        return []
    return sorted(set(a.per_seed) & set(b.per_seed))


def paired(a: Sample, b: Sample) -> Diff:
    """a - b over the seeds both ran (d_s = a_s - b_s)."""
    seeds = common_seeds(a, b)
    return _from_differences([a.per_seed[s] - b.per_seed[s] for s in seeds])


def welch(a: Sample, b: Sample) -> Diff:
    """a - b from the two summaries (independent samples)."""
    va, vb = a.se ** 2, b.se ** 2
    if math.isnan(va) or math.isnan(vb):
        return Diff(a.mean - b.mean, math.nan, math.nan, False, min(a.n, b.n))
    return Diff(a.mean - b.mean, math.sqrt(va + vb), _satterthwaite([va, vb],
                                                                   [a.n - 1, b.n - 1]),
                False, min(a.n, b.n))


def difference(a: Sample, b: Sample) -> Diff:
    """Paired when both sides ran at least two common seeds, else Welch."""
    return paired(a, b) if len(common_seeds(a, b)) >= 2 else welch(a, b)


def _shared_seeds(pairs: Sequence[tuple[Sample, Sample]]) -> list[int]:
    """The seeds every cell of both columns ran (empty if any side is a printed summary)."""
    sets = [set(common_seeds(a, b)) for a, b in pairs]
    return sorted(set.intersection(*sets)) if sets else []


def pooled(pairs: Sequence[tuple[Sample, Sample]]) -> Diff:
    """The mean over cells of a - b: paired per seed over the seeds every cell ran (when at
    least two), else from each cell's difference (se = sqrt(sum se_i^2) / k)."""
    seeds = _shared_seeds(pairs)
    if len(seeds) >= 2:
        return _from_differences([sum(a.per_seed[s] - b.per_seed[s] for a, b in pairs)
                                  / len(pairs) for s in seeds])
    diffs = [difference(a, b) for a, b in pairs]
    k = len(diffs)
    mean = sum(d.mean for d in diffs) / k
    if any(math.isnan(d.se) for d in diffs):
        return Diff(mean, math.nan, math.nan, False, min(d.n for d in diffs))
    variances = [(d.se / k) ** 2 for d in diffs]
    return Diff(mean, math.sqrt(sum(variances)), _satterthwaite(variances, [d.df for d in diffs]),
                False, min(d.n for d in diffs))


def sign_test(positive: int, total: int) -> float:
    """One-sided p-value of `positive` or more of `total` cells above zero if each were a coin
    (cells with a difference of exactly 0 are left out of `total`, as the sign test does)."""
    if total == 0:
        return math.nan
    return float(_st.binom.sf(positive - 1, total, 0.5))


@dataclasses.dataclass(frozen=True)
class Ratio:
    """A ratio a / b of two mean differences with its Fieller interval (lo may be -inf, hi
    inf) and its denominator b."""
    value: float
    lo: float
    hi: float
    denominator: float = math.nan


def fieller(a: float, b: float, va: float, vb: float, cov: float, df: float,
            level: float) -> Ratio:
    """Fieller's interval for a / b, where (a, b) are estimates with variances va, vb and
    covariance cov; unbounded when b is not significantly away from zero."""
    value = a / b if b != 0 else math.nan
    if any(math.isnan(x) for x in (va, vb, cov, df)):
        return Ratio(value, math.nan, math.nan, b)
    t2 = t_quantile(level, df) ** 2
    qa, qb, qc = b * b - t2 * vb, a * b - t2 * cov, a * a - t2 * va
    disc = qb * qb - qa * qc
    if qa <= 0 or disc < 0:      # b not clearly away from 0: the set is unbounded (or two rays)
        return Ratio(value, -math.inf, math.inf, b)
    root = math.sqrt(disc)
    return Ratio(value, (qb - root) / qa, (qb + root) / qa, b)


def share(rand: Sequence[Sample], sup: Sequence[Sample], base: Sequence[Sample],
          level: float) -> Ratio:
    """(rand - base) / (sup - base), each side the mean over cells: how much of the supervised
    method's advantage over `base` the random-data version keeps. Paired per seed when every
    cell of the three columns has the same >= 2 seeds; else from the summaries (the shared base
    column makes numerator and denominator covary)."""
    k = len(rand)
    seeds = _shared_seeds(list(zip(rand, base)) + list(zip(sup, base)))
    if len(seeds) >= 2:
        num = [sum(r.per_seed[s] - z.per_seed[s] for r, z in zip(rand, base)) / k for s in seeds]
        den = [sum(u.per_seed[s] - z.per_seed[s] for u, z in zip(sup, base)) / k for s in seeds]
        n = len(seeds)
        mn, md = sum(num) / n, sum(den) / n
        cov = sum((x - mn) * (y - md) for x, y in zip(num, den)) / (n - 1)
        vn = sum((x - mn) ** 2 for x in num) / (n - 1)
        vd = sum((y - md) ** 2 for y in den) / (n - 1)
        return fieller(mn, md, vn / n, vd / n, cov / n, n - 1, level)
    a = sum(r.mean - z.mean for r, z in zip(rand, base)) / k
    b = sum(u.mean - z.mean for u, z in zip(sup, base)) / k
    cov = sum((z.se / k) ** 2 for z in base)        # the Random column is on both sides
    va = sum((r.se / k) ** 2 for r in rand) + cov
    vb = sum((u.se / k) ** 2 for u in sup) + cov
    # Satterthwaite df of a - rho * b, the quantity Fieller's interval inverts.
    rho = a / b if b != 0 else 0.0
    parts = ([((r.se / k) ** 2, r.n - 1) for r in rand]
             + [(rho ** 2 * (u.se / k) ** 2, u.n - 1) for u in sup]
             + [((1 - rho) ** 2 * (z.se / k) ** 2, z.n - 1) for z in base])
    df = _satterthwaite([v for v, _ in parts], [d for _, d in parts])
    return fieller(a, b, va, vb, cov, df, level)
