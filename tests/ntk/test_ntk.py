"""ntk: Jacobian column norms (chunked vs the flattened oracle vs the empirical NTK's trace),
the NTK-parameterised MLP against its stax kernel, the Theorem 7.2 terms, and the two CLIs."""
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from sketchjax.ntk import jacobian as J
from sketchjax.ntk import theorem72 as t72  # noqa: E402
from sketchjax.ntk._compat import empirical_ntk_fn  # noqa: E402
from sketchjax.ntk.mlp import NTKMLP, analytic_ntk  # noqa: E402


def _mlp(width=16, outputs=3, activation="relu", seed=0, n=7, d_in=5, depth=2):
    model = NTKMLP(widths=(width,) * depth, outputs=outputs, activation=activation)
    x = jax.random.normal(jax.random.key(seed + 100), (n, d_in))
    params = model.init(jax.random.key(seed), x)["params"]
    return t72._apply_fn(model), params, x


@pytest.mark.parametrize("batch_size", [3, 7, 64])   # remainder chunk; exact; one chunk
def test_chunked_column_norms_equal_the_flattened_oracle(batch_size):
    f, params, x = _mlp()
    chunked = J.column_sq_norms(f, params, x, batch_size=batch_size)
    oracle = J.column_sq_norms_flat(f, params, x)
    assert jax.tree.structure(chunked) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(chunked), jax.tree.leaves(oracle)):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("implementation", ["jacobian_contraction", "structured_derivatives"])
def test_column_norms_sum_to_the_trace_of_the_empirical_ntk(implementation):
    f, params, x = _mlp(outputs=3)
    total = sum(float(jnp.sum(a)) for a in jax.tree.leaves(J.column_sq_norms(f, params, x, 4)))
    kernel = empirical_ntk_fn(f, implementation, trace_axes=())(x, None, params)
    assert kernel.shape == (7, 7, 3, 3)
    trace = float(jnp.einsum("iioo->", kernel))
    assert total == pytest.approx(trace, rel=1e-5)
    assert float(J.jacobian_sq_frobenius(f, params, x, 4)) == pytest.approx(trace, rel=1e-5)


def test_structured_derivatives_matches_jacobian_contraction():
    # STRUCTURED_DERIVATIVES needs the jax.interpreters.ad aliases of ntk._compat.
    f, params, x = _mlp(outputs=2, activation="erf")
    a = empirical_ntk_fn(f, "jacobian_contraction")(x, None, params)
    b = empirical_ntk_fn(f, "structured_derivatives")(x, None, params)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="unknown NTK implementation"):
        empirical_ntk_fn(f, "auto")


def test_jacobian_difference_and_jvp_against_the_full_jacobian():
    f, params, x = _mlp(outputs=2)
    flat, unravel = ravel_pytree(params)
    other = unravel(flat + 0.3 * jax.random.normal(jax.random.key(5), flat.shape))
    jac = jax.jacrev(lambda v: jnp.ravel(f(unravel(v), x)))
    full_a, full_b = jac(flat), jac(ravel_pytree(other)[0])
    diff = float(J.jacobian_diff_sq_frobenius(f, params, other, x, 3))
    assert diff == pytest.approx(float(jnp.sum((full_a - full_b) ** 2)), rel=1e-4)
    v = jax.random.normal(jax.random.key(6), flat.shape)
    np.testing.assert_allclose(np.ravel(J.jvp_outputs(f, params, unravel(v), x)),
                               np.asarray(full_a @ v), rtol=1e-4, atol=1e-5)


def test_empirical_ntk_approaches_the_analytic_ntk_as_width_grows():
    x = jax.random.normal(jax.random.key(0), (8, 4))
    analytic = analytic_ntk(x, x, depth=2)
    errors = []
    for width in (64, 256, 1024):
        model = NTKMLP(widths=(width, width))
        f = t72._apply_fn(model)
        rel = []
        for seed in range(3):
            params = model.init(jax.random.key(seed + 1), x)["params"]
            emp = empirical_ntk_fn(f, "structured_derivatives")(x, None, params)
            rel.append(float(jnp.linalg.norm(emp - analytic) / jnp.linalg.norm(analytic)))
        errors.append(np.mean(rel))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.15, errors   # ~ 1/sqrt(width): 4x width, about half the error


def test_rhs_formula():
    theta0 = np.array([1.0, -2.0, 0.5])
    col_sq0 = np.array([4.0, 1.0, 0.25])
    k, r0, lmin, s = 2.0, 3.0, 0.5, 7
    l1, f_j, f_t = 3.5, 1 / 2 + 1 + 2, 1 + 0.5 + 2
    expected = k ** 3 * l1 * f_j * (l1 + f_t * 9 * k ** 4 * r0 ** 2 / lmin ** 2
                                    + 6 * math.sqrt(3) * k ** 3 * r0 / lmin) / s
    assert t72.rhs(k, theta0, col_sq0, r0, lmin, s)["rhs"] == pytest.approx(expected)


def test_theorem72_terms_on_a_small_network():
    setup = t72.Setup(num_examples=8, input_dim=3, steps=40, checkpoints=3, example_batch=3)
    res = t72.run_width(32, [5, 50], setup, jax.random.key(0), num_masks=512)
    assert res["eta0"] <= res["eta_critical"] * (1 + 1e-6)
    assert res["loss_final"] < res["loss_initial"]
    assert res["theta_dist_max"] <= res["theta_dist_bound"]
    assert res["K"] >= res["jacobian_fro_max"] > 0
    for row in res["rows"]:
        assert abs(row["lhs"] - row["closed_form"]) <= 4 * row["lhs_stderr"], row
        assert row["closed_form"] <= row["intermediate"] <= row["product_bound"] <= row["rhs"]
    a, b = res["rows"]
    assert a["intermediate"] * a["s"] == pytest.approx(b["intermediate"] * b["s"], rel=1e-6)


# ------------------------------------------------------------------------------- the CLIs

def _read(out):
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def test_verify_theorem72_cli_small_run(tmp_path, capsys):
    from sketchjax.ntk import verify_theorem72 as v
    out = str(tmp_path / "t72")
    rc = v.main(["--widths", "16,32", "--draws", "5,50", "--samples", "32", "--steps", "10",
                 "--examples", "6", "--out", out])
    assert rc == 0, capsys.readouterr()
    assert sorted(os.listdir(out)) == ["summary.json", "summary.md", "theorem72_vs_s.png",
                                       "theorem72_vs_width.png"]
    checks = _read(out)
    assert {"id", "statement", "holds", "measured", "bound", "ratio", "settings"} <= set(checks[0])
    ids = [c["id"] for c in checks]
    assert "7.2 N=32 s=50" in ids and "7.2/step N=16" in ids
    assert all(c["holds"] for c in checks)
    md = open(os.path.join(out, "summary.md")).read()
    assert "| 7.2 N=16 s=5 |" in md and "RHS / LHS" in md


def test_verify_linear_cli_small_run(tmp_path, capsys):
    from sketchjax.ntk import verify_linear as v
    out = str(tmp_path / "lin")
    rc = v.main(["--dim", "24", "--examples", "8", "--draws", "3,30", "--samples", "400",
                 "--x-draws", "64", "--steps", "20", "--perturbations", "0.1,5", "--out", out])
    captured = capsys.readouterr()
    assert rc == 0, captured
    checks = {c["id"]: c for c in _read(out)}
    for must in ("B.1", "B.2/4.3", "4.3", "4.1", "4.2-exact", "4.4-exact", "4.4-corrected",
                 "4.5", "4.5-exact", "5/synflow", "5/chi", "6/snip"):
        assert checks[must]["holds"] is True and checks[must]["must_hold"] is True, must
    assert checks["4.2"]["holds"] is False and checks["4.2"]["must_hold"] is False
    assert os.path.exists(os.path.join(out, "errors_vs_s.png"))
    assert "does not hold (expected" in captured.out


@pytest.mark.parametrize("module,argv,message", [
    ("verify_theorem72", ["--widths", "0"], "--widths"),
    ("verify_theorem72", ["--lr-fraction", "2"], "--lr-fraction"),
    ("verify_theorem72", ["--samples", "8"], "--samples"),
    ("verify_linear", ["--draws", "3,x"], "--draws"),
    ("verify_linear", ["--samples", "1"], "--samples"),
])
def test_bad_values_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, module, argv,
                                                           message):
    import importlib
    v = importlib.import_module(f"sketchjax.ntk.{module}")
    out = tmp_path / "never"
    assert v.main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{v.PROG}: error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize("module,argv,message", [
    ("verify_theorem72", ["--densities", "0.1", "--draws", "5"], "not allowed"),
    ("verify_theorem72", ["--activation", "tanh"], "invalid choice"),
    ("verify_linear", ["--no-such-flag"], "unrecognized"),
])
def test_argparse_errors_exit_2_and_write_nothing(tmp_path, capsys, module, argv, message):
    import importlib
    v = importlib.import_module(f"sketchjax.ntk.{module}")
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        v.main(argv + ["--out", str(out)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


# Cheap flags, so that a run that should have been refused at parsing ends quickly.
_CHEAP = {"verify_linear": ["--dim", "8", "--examples", "4", "--draws", "2", "--samples", "16",
                            "--x-draws", "8", "--steps", "0", "--perturbations", "1"],
          "verify_theorem72": ["--widths", "8", "--draws", "5", "--samples", "16", "--steps",
                               "1", "--examples", "2"]}


@pytest.mark.parametrize("module", ["verify_linear", "verify_theorem72"])
@pytest.mark.parametrize("below,reason", [(False, "exists and is not a folder"),
                                          (True, "is not a folder")])
def test_unwritable_out_exits_2_with_one_line(tmp_path, capsys, module, below, reason):
    import importlib
    v = importlib.import_module(f"sketchjax.ntk.{module}")
    blocker = tmp_path / "a_file"
    blocker.write_text("keep")
    out = blocker / "sub" if below else blocker
    assert v.main(_CHEAP[module] + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and reason in err and str(out) in err, err
    assert blocker.read_text() == "keep"
