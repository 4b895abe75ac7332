"""ntk.checks: a check that raises fails the run, exit statuses, the z-score, the Check row."""
import math

import numpy as np
import pytest

from sketchjax.ntk.checks import Check, checks_markdown, fail_on_error, finish, nan_max, z_score


def test_a_check_that_raises_is_a_failed_must_hold_check(capsys):
    @fail_on_error("5/x", "the library computes x")
    def broken(key):
        raise RuntimeError(f"scorer exploded on {key}")

    checks = broken(7)
    assert [(c.id, c.statement, c.holds, c.must_hold) for c in checks] == [
        ("5/x", "the library computes x", False, True)]
    assert checks[0].note == "error: RuntimeError: scorer exploded on 7"
    assert finish("p", checks, report_only=False, written=[]) == 1
    assert "FAILED 5/x" in capsys.readouterr().err
    assert finish("p", checks, report_only=True, written=[]) == 0
    assert ("| 5/x | the library computes x (error: RuntimeError: scorer exploded on 7) | "
            "**NO** | yes |") in checks_markdown(checks)


def test_fail_on_error_returns_the_checks_of_a_check_that_runs():
    row = Check("y", "holds", True, 1.0, 2.0)
    assert fail_on_error("y", "holds")(lambda: [row])() == [row]


def test_exit_status_and_report_only(tmp_path):
    bad = [Check("x", "must hold", False, 2.0, 1.0), Check("y", "as printed", False, 2.0, 1.0,
                                                           must_hold=False)]
    assert finish("p", bad, report_only=False, written=[]) == 1
    assert finish("p", bad, report_only=True, written=[]) == 0
    assert finish("p", bad[1:], report_only=False, written=[]) == 0
    assert bad[0].to_json()["ratio"] == 2.0
    assert Check("z", "", True, math.inf, 1.0).to_json()["measured"] == "inf"


def test_numpy_verdicts_are_counted(capsys):
    # a comparison of numpy scalars gives np.bool_; it must count as holding / failing
    checks = [Check("a", "", np.float64(1) <= 2, 1.0, 2.0),
              Check("b", "", np.float64(3) <= 2, 3.0, 2.0)]
    assert checks[0].holds is True and checks[1].holds is False
    assert finish("p", checks, report_only=False, written=[]) == 1
    assert "p: 1/2 statements hold" in capsys.readouterr().out


def test_z_score():
    assert z_score(3.0, 0.5, 2.0) == pytest.approx(2.0)
    assert z_score(2.0, 0.0, 2.0) == 0.0
    # no spread but a wrong mean is an infinite disagreement, not z = 0
    assert z_score(3.0, 0.0, 2.0) == math.inf


def test_nan_max_keeps_a_nan_that_python_max_drops():
    # max() keeps its first argument when a comparison with nan is False: a NaN bound that is
    # not first would vanish, and a check "max <= bound" would pass on a broken trajectory.
    values = [1.0, float("nan"), 2.0]
    assert max(values) == 2.0
    assert math.isnan(nan_max(values)) and math.isnan(nan_max([math.nan, 1.0]))
    assert nan_max([1.0, 3.0, 2.0]) == 3.0
