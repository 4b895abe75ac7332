"""ntk.verify_linear's Sections 5-6 checks: they hold on the library, and fail when the library
function they call is wrong or raises."""

import jax
import jax.numpy as jnp
import pytest

from sketchjax.ntk import verify_linear as v
from sketchjax.data.random_data import normal_batch

D, N = 50, 20
BASE = {"d": D, "n": N, "seed": 0}


def _synflow():
    return v._check_synflow(jax.random.key(1), D, N, BASE)


def _chi():
    return v._check_chi(jax.random.key(2), BASE)


def _snip():
    return v._check_snip(jax.random.key(3), D, N, BASE)


def test_sections_5_6_hold_on_the_library():
    checks = _synflow() + _chi() + _snip()
    assert [c.id for c in checks] == ["5/synflow", "5/synflow-p0", "5/chi", "6/snip"]
    for c in checks:
        assert c.holds is True and c.must_hold is True, c


def _synflow_on_ones(real):
    # the reference SynFlow input (all ones) instead of the one given: scores |w_i|
    return lambda apply_fn, params, batch_stats, inputs: real(apply_fn, params, batch_stats,
                                                              jnp.ones_like(inputs))


def _chi_of_half_dimension(real):
    return lambda key, shape, n: real(key, shape, n=n // 2)


def _snip_without_weights(real):
    # |dL/dw| instead of |w dL/dw|
    def scores(apply_fn, params, batch_stats, images, labels, loss):
        s = real(apply_fn, params, batch_stats, images, labels, loss=loss)
        return jax.tree.map(lambda a, w: a / jnp.abs(w), s, params)
    return scores


def _dense_batch(real):
    # the non-sparse batch: every row of X has n non-zeros
    return normal_batch


@pytest.mark.parametrize("name,wrong,check", [
    ("synflow_scores", _synflow_on_ones, _synflow),
    ("chi_input", _chi_of_half_dimension, _chi),
    ("snip_scores", _snip_without_weights, _snip),
    ("sparse_batch", _dense_batch, _snip),
])
def test_a_wrong_library_function_fails_its_check(monkeypatch, name, wrong, check):
    monkeypatch.setattr(v, name, wrong(getattr(v, name)))
    first = check()[0]
    assert first.holds is False and first.must_hold is True, first


@pytest.mark.parametrize("name,check,check_id", [
    ("synflow_scores", _synflow, "5/synflow"),
    ("chi_input", _chi, "5/chi"),
    ("snip_scores", _snip, "6/snip"),
    ("create_model", _snip, "6/snip"),
])
def test_a_library_function_that_raises_fails_its_check(monkeypatch, name, check, check_id):
    def broken(*args, **kwargs):
        raise AttributeError("no such scorer")
    monkeypatch.setattr(v, name, broken)
    checks = check()
    assert len(checks) == 1
    c = checks[0]
    assert (c.id, c.holds, c.must_hold, c.failed) == (check_id, False, True, True)
    assert c.note == "error: AttributeError: no such scorer"
