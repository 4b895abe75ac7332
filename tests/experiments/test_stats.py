"""The verdicts' statistics: exact numbers on small inputs, coverage against Monte Carlo."""
import math

import numpy as np
import pytest

from sketchjax.experiments import stats
from sketchjax.experiments.stats import Sample

T_975_4 = 2.7764451051977987      # Student's t, 0.975 quantile, 4 degrees of freedom


def seeds(*values):
    return Sample.of_seeds(dict(enumerate(values)))


def test_sample_mean_std_and_one_seed():
    s = seeds(80.0, 81.0, 82.0)
    assert (s.mean, s.std, s.n) == (81.0, 1.0, 3)
    assert math.isclose(s.se, 1 / math.sqrt(3))
    assert seeds(1.0).std is None and math.isnan(seeds(1.0).se)
    assert Sample.of_seeds({}) is None


def test_paired_difference_uses_the_per_seed_differences():
    a, b = seeds(10.0, 12.0, 11.0, 13.0, 14.0), seeds(9.0, 10.0, 10.5, 12.0, 12.5)
    d = stats.difference(a, b)
    diffs = np.array([1.0, 2.0, 0.5, 1.0, 1.5])
    assert d.paired and d.n == 5 and d.df == 4
    assert math.isclose(d.mean, diffs.mean())
    assert math.isclose(d.se, diffs.std(ddof=1) / math.sqrt(5))
    lo, hi = d.interval(0.95)
    assert math.isclose(hi - d.mean, T_975_4 * d.se, rel_tol=1e-9)
    # Unpaired, the same numbers give a wider interval (the seeds' shared part is not removed).
    w = stats.welch(a, b)
    assert not w.paired and w.se > d.se


def test_welch_from_printed_summaries():
    d = stats.welch(Sample(93.0, 0.2, 3), Sample(92.0, 0.1, 3))
    va, vb = 0.04 / 3, 0.01 / 3
    assert math.isclose(d.se, math.sqrt(va + vb))
    assert math.isclose(d.df, (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2))
    assert math.isnan(stats.welch(Sample(58.3, None, 1), Sample(60.6, None, 1)).se)


def test_pooled_pairs_per_seed_when_every_cell_has_the_same_seeds():
    cells = [(seeds(3.0, 4.0, 5.0), seeds(1.0, 1.0, 2.0)), (seeds(0.0, 2.0, 1.0),
                                                              seeds(1.0, 1.0, 1.0))]
    d = stats.pooled(cells)
    per_seed = [(2.0 - 1.0) / 2, (3.0 + 1.0) / 2, (3.0 + 0.0) / 2]
    assert d.paired and d.n == 3
    assert math.isclose(d.mean, np.mean(per_seed))
    assert math.isclose(d.se, np.std(per_seed, ddof=1) / math.sqrt(3))
    # Summaries only: the mean of the cell differences, se = sqrt(sum se^2) / k.
    printed = [(Sample(3.0, 1.0, 3), Sample(1.0, 0.5, 3)), (Sample(2.0, 0.2, 3),
                                                            Sample(1.0, 0.1, 3))]
    u = stats.pooled(printed)
    se1, se2 = math.sqrt((1 + 0.25) / 3), math.sqrt((0.04 + 0.01) / 3)
    assert math.isclose(u.mean, 1.5) and math.isclose(u.se, math.sqrt(se1 ** 2 + se2 ** 2) / 2)


@pytest.mark.parametrize("n", [3, 5])
def test_paired_interval_covers_the_true_difference_95_percent_of_the_time(n):
    rng = np.random.default_rng(n)
    trials, covered = 4000, 0
    for _ in range(trials):
        shared = rng.normal(0, 3, n)                    # the seed's effect on both columns
        a = 80 + 0.7 + shared + rng.normal(0, 0.5, n)
        b = 80 + shared + rng.normal(0, 0.5, n)
        lo, hi = stats.difference(seeds(*a), seeds(*b)).interval(0.95)
        covered += lo <= 0.7 <= hi
    # Binomial sd of the coverage at 4,000 trials: 0.0034; allow 4 sd.
    assert abs(covered / trials - 0.95) < 4 * math.sqrt(0.95 * 0.05 / trials)


def test_sign_test():
    assert math.isclose(stats.sign_test(11, 12), 13 / 4096)
    assert math.isclose(stats.sign_test(3, 3), 1 / 8)
    assert stats.sign_test(0, 4) == 1.0


def test_fieller_ratio_interval():
    exact = stats.fieller(2.0, 4.0, 0.0, 0.0, 0.0, 10, 0.95)
    assert (exact.value, exact.lo, exact.hi) == (0.5, 0.5, 0.5)
    r = stats.fieller(2.0, 4.0, 0.1, 0.1, 0.0, 10, 0.95)
    assert r.lo < 0.5 < r.hi
    # A denominator indistinguishable from zero: the interval is unbounded.
    u = stats.fieller(2.0, 0.1, 0.1, 0.1, 0.0, 10, 0.95)
    assert (u.lo, u.hi) == (-math.inf, math.inf)


def test_share_interval_covers_the_true_share_by_monte_carlo():
    rng = np.random.default_rng(0)
    trials, covered = 1500, 0
    for _ in range(trials):
        shared = rng.normal(0, 2, 5)
        base = 50 + shared + rng.normal(0, 0.5, 5)
        sup = 60 + shared + rng.normal(0, 0.5, 5)
        rand = 56 + shared + rng.normal(0, 0.5, 5)      # keeps 6 of 10 points: share 0.6
        r = stats.share([seeds(*rand)], [seeds(*sup)], [seeds(*base)], 0.95)
        covered += r.lo <= 0.6 <= r.hi
    assert abs(covered / trials - 0.95) < 4 * math.sqrt(0.95 * 0.05 / trials)


def test_pooled_pairs_on_the_seeds_every_cell_ran():
    full = (seeds(3.0, 4.0, 5.0), seeds(1.0, 1.0, 2.0))
    missing = (Sample.of_seeds({0: 0.0, 1: 2.0}), seeds(1.0, 1.0, 1.0))   # seed 2 lost
    d = stats.pooled([full, missing])
    assert d.paired and d.n == 2
    assert math.isclose(d.mean, ((2.0 - 1.0) / 2 + (3.0 + 1.0) / 2) / 2)


def test_share_from_printed_summaries_covaries_through_the_shared_base():
    rand, sup, base = Sample(56.0, 1.0, 3), Sample(60.0, 1.0, 3), Sample(50.0, 1.0, 3)
    r = stats.share([rand], [sup], [base], 0.95)
    assert math.isclose(r.value, 0.6) and math.isclose(r.denominator, 10.0)
    assert r.lo < 0.6 < r.hi
    # Numerator 56 - 50 and denominator 60 - 50 share the base's variance (se^2 = 1/3) as their
    # covariance; df is Satterthwaite's for a - 0.6 b (weights 1, 0.6^2, 0.4^2, 2 df each).
    var = 1 / 3
    parts = [var, 0.36 * var, 0.16 * var]
    df = sum(parts) ** 2 / sum(v ** 2 / 2 for v in parts)
    expected = stats.fieller(6.0, 10.0, 2 * var, 2 * var, var, df, 0.95)
    assert math.isclose(r.lo, expected.lo) and math.isclose(r.hi, expected.hi)
    # Without the covariance (an independent base on each side) the interval is wider.
    independent = stats.fieller(6.0, 10.0, 2 * var, 2 * var, 0.0, df, 0.95)
    assert independent.hi - independent.lo > r.hi - r.lo


def test_one_seed_gives_no_interval_anywhere():
    one = Sample.of_seeds({0: 50.0})
    assert math.isnan(stats.pooled([(one, one)]).interval(0.95)[0])
    r = stats.share([one], [one], [one], 0.95)
    assert math.isnan(r.lo) and math.isnan(r.hi)


def test_holm_steps_down_and_p_values_match_the_interval():
    # 0.01 <= 0.05/3; then 0.03 > 0.05/2 stops the steps: only the first is rejected.
    assert stats.holm([0.01, 0.04, 0.03], 0.05) == [True, False, False]
    assert stats.holm([0.01, 0.04, 0.02], 0.05) == [True, True, True]    # .02<=.025, .04<=.05
    assert stats.holm([math.nan, 0.001], 0.05) == [False, True]
    # A difference whose 95% interval just excludes 0 has p just below 0.05.
    d = stats.difference(seeds(10.0, 12.0, 11.0, 13.0, 14.0), seeds(9.0, 10.0, 10.5, 12.0, 12.5))
    lo, _ = d.interval(1 - d.p_value())
    assert math.isclose(lo, 0.0, abs_tol=1e-9)
