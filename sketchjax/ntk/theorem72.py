"""The terms of Theorem 7.2 (Section 7, Appendix B.6) for a wide MLP in NTK parameterisation.

Setting (docs/theory.md): a training set (X, Y) of a few dozen examples; full-batch gradient
descent on L(theta) = 1/2 ||f(theta, X) - Y||^2 with eta0 <= eta_critical = 2/(lambda_min +
lambda_max) of the analytic NTK (the kernel of that loss's function-space dynamics,
f <- f - eta Theta (f - Y)); J(theta) = d f(X)/d theta; f_t^lin(X) = J(theta_t) theta_t; a mask m
from Algorithm 1 with p_k proportional to ||J(theta_0)^(k)|| |theta_0k| and s draws. Measured:

* LHS = E_m ||f_t^lin(X) - J(theta_t)(theta_t . m)||^2 by Monte Carlo over masks (lax.map over
  keys, each a `sketch_mask` and one forward-mode product J(theta_t) v), and its exact value
  (Lemma B.2 with X^T -> J(theta_t), w* -> theta_t, p as above);
* the intermediate bound of the proof (Lemma 4.3 with J(theta_0), theta_0 for p and J(theta_t),
  theta_t for the error): (1/s) sum_k ||J_t^(k)||^2 theta_tk^2 / p_k;
* the right-hand side, exactly as printed:
  (1/s) K^3 ||theta_0||_1 F(J(theta_0)) (||theta_0||_1 + F(theta_0) 9 K^4 R_0^2 / lambda_min^2
  + 6 sqrt(d) K^3 R_0 / lambda_min),  F(A) = sum_i 1/||A^(i)||, F(theta_0) = sum_k 1/|theta_0k|;
* K = max over the trajectory of ||J(theta)||_F and ||J(theta) - J(theta')||_F / ||theta - theta'||
  (Definition 7.1, over checkpoint pairs: a lower estimate of the sup over the ball);
  R_0 = ||f_0(X) - Y||; lambda_min of the analytic NTK (the empirical one at init beside it);
* the step the proof rests on: ||theta_t - theta_0|| <= 3 K R_0 / lambda_min.

Large scalars (the RHS reaches 1e30 and beyond) are assembled in float64 on the host.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from sketchjax.ntk import jacobian
from sketchjax.ntk.mlp import NTKMLP, analytic_ntk
from sketchjax.ntk.checks import nan_max
from sketchjax.sketch import sketch_mask

__all__ = ["Setup", "make_data", "spectrum", "train", "measure_k", "mask_probs",
           "lhs_monte_carlo", "closed_form", "intermediate_bound", "rhs", "run_width"]


@dataclasses.dataclass(frozen=True)
class Setup:
    """Everything but the width and s that defines one Theorem 7.2 run."""
    num_examples: int = 32
    input_dim: int = 8
    depth: int = 2                   # hidden layers
    w_std: float = 1.5
    b_std: float = 0.1
    activation: str = "erf"          # smooth: no dead units (F(J_0) finite), J Lipschitz
    lr_fraction: float = 1.0         # eta0 = lr_fraction * min(eta_crit analytic, empirical)
    steps: int = 300
    checkpoints: int = 6             # trajectory points (besides theta_0) for K
    example_batch: int = 8           # examples per chunk of per-example Jacobians
    mask_batch: int = 16             # masks held at once in the Monte Carlo (at most)
    ntk_implementation: str = "structured_derivatives"


def make_data(key: jax.Array, num_examples: int, input_dim: int) -> tuple[jax.Array, jax.Array]:
    """Inputs on the sphere of radius sqrt(input_dim) and smooth targets: X (n, d_in), Y (n, 1).

    Y = sin(2 x.v / sqrt(d_in)) with v ~ N(0, I): O(1) targets that a kernel fits.
    """
    kx, kv = jax.random.split(key)
    x = jax.random.normal(kx, (num_examples, input_dim), jnp.float32)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True) * math.sqrt(input_dim)
    v = jax.random.normal(kv, (input_dim,), jnp.float32)
    return x, jnp.sin(2.0 * x @ v / math.sqrt(input_dim))[:, None]


def spectrum(kernel: jax.Array) -> tuple[float, float, float]:
    """(lambda_min, lambda_max, eta_critical = 2/(lambda_min + lambda_max)) of a PSD matrix."""
    eig = np.linalg.eigvalsh(np.asarray(kernel, np.float64))
    lmin, lmax = float(eig[0]), float(eig[-1])
    return lmin, lmax, 2.0 / (lmin + lmax)


def train(apply_fn: Callable, params, x: jax.Array, y: jax.Array, lr: float, steps: int,
          checkpoints: int):
    """Full-batch GD on 1/2 ||f(theta, X) - Y||^2.

    Returns:
      (trajectory, losses): the params at steps 0 = t_0 < t_1 < ... < t_C = steps (C =
      min(checkpoints, steps)), and the loss at each of them.
    """
    def loss(p):
        return 0.5 * jnp.sum(jnp.square(apply_fn(p, x) - y))

    @functools.partial(jax.jit, static_argnums=1)
    def run(p, num):
        return jax.lax.fori_loop(
            0, num, lambda _, q: jax.tree.map(lambda a, g: a - lr * g, q, jax.grad(loss)(q)), p)

    cuts = np.unique(np.linspace(0, steps, min(checkpoints, max(steps, 1)) + 1).astype(int))
    trajectory, losses = [params], [float(loss(params))]
    for a, b in zip(cuts[:-1], cuts[1:]):
        params = run(params, int(b - a))
        trajectory.append(params)
        losses.append(float(loss(params)))
    return trajectory, losses


def measure_k(apply_fn: Callable, trajectory: Sequence, x: jax.Array, batch_size: int) -> dict:
    """K of Definition 7.1 along a trajectory.

    ||J(theta_c)||_F at every checkpoint; ||J(a) - J(b)||_F / ||a - b|| for consecutive
    checkpoints and for every checkpoint against theta_0. K is the largest of all.
    """
    flats = [ravel_pytree(p)[0] for p in trajectory]
    fro = [math.sqrt(float(jacobian.jacobian_sq_frobenius(apply_fn, p, x, batch_size)))
           for p in trajectory]
    pairs = sorted({(c - 1, c) for c in range(1, len(trajectory))}
                   | {(0, c) for c in range(1, len(trajectory))})
    ratios = []
    for a, b in pairs:
        dist = float(jnp.linalg.norm(flats[a] - flats[b]))
        if dist == 0.0:
            continue
        diff = float(jacobian.jacobian_diff_sq_frobenius(apply_fn, trajectory[a], trajectory[b],
                                                         x, batch_size))
        ratios.append(math.sqrt(diff) / dist)
    lip = nan_max(ratios) if ratios else 0.0
    return {"K": nan_max([*fro, lip]), "jacobian_fro_max": nan_max(fro), "jacobian_fro": fro,
            "lipschitz_max": lip, "lipschitz_ratios": ratios}


def mask_probs(col_sq0: jax.Array, theta0: jax.Array) -> jax.Array:
    """Eq. (2) for the network: p_k proportional to ||J(theta_0)^(k)|| |theta_0k| (flat)."""
    scores = jnp.sqrt(col_sq0) * jnp.abs(theta0)
    return scores / jnp.sum(scores)


@functools.partial(jax.jit, static_argnames=("apply_fn", "s", "num_masks", "batch_size"))
def lhs_monte_carlo(key: jax.Array, apply_fn: Callable, params_t, x: jax.Array,
                    probs: jax.Array, s: int, num_masks: int, batch_size: int) -> jax.Array:
    """||J(theta_t) theta_t - J(theta_t)(theta_t . m)||^2 for num_masks masks of Algorithm 1.

    Each sample is one forward-mode product J(theta_t) (theta_t . (1 - m)); the Jacobian is
    never formed. Returns (num_masks,) squared errors.
    """
    flat, unravel = ravel_pytree(params_t)

    def one(k):
        m = sketch_mask(k, probs, s)
        out = jacobian.jvp_outputs(apply_fn, params_t, unravel(flat * (1.0 - m)), x)
        return jnp.sum(jnp.square(out))

    return jax.lax.map(one, jax.random.split(key, num_masks),
                       batch_size=min(batch_size, num_masks))


def _safe_ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(num == 0, 0.0, num / den)


def intermediate_bound(col_sq_t: np.ndarray, theta_t: np.ndarray, probs: np.ndarray,
                       s: int) -> float:
    """Lemma 4.3's bound: (1/s) sum_k ||J_t^(k)||^2 theta_tk^2 / p_k (p from J_0, theta_0)."""
    return float(np.sum(_safe_ratio(col_sq_t * np.square(theta_t), probs)) / s)


def closed_form(col_sq_t: np.ndarray, theta_t: np.ndarray, probs: np.ndarray,
                f_lin_sq: float, s: int) -> float:
    """The exact E_m of the LHS (Lemma B.2): intermediate bound - (1/s) ||J_t theta_t||^2."""
    return intermediate_bound(col_sq_t, theta_t, probs, s) - f_lin_sq / s


def rhs(k: float, theta0: np.ndarray, col_sq0: np.ndarray, r0: float, lmin: float,
        s: int) -> dict:
    """Theorem 7.2's right-hand side as printed, with its factors (float64)."""
    theta0 = np.asarray(theta0, np.float64)
    d = theta0.size
    l1 = float(np.sum(np.abs(theta0)))
    with np.errstate(divide="ignore"):
        f_j0 = float(np.sum(1.0 / np.sqrt(np.asarray(col_sq0, np.float64))))
        f_theta0 = float(np.sum(1.0 / np.abs(theta0)))
    inner = (l1 + f_theta0 * 9.0 * k ** 4 * r0 ** 2 / lmin ** 2
             + 6.0 * math.sqrt(d) * k ** 3 * r0 / lmin)
    return {"rhs": k ** 3 * l1 * f_j0 * inner / s, "theta0_l1": l1, "F_J0": f_j0,
            "F_theta0": f_theta0, "d": d}


def run_width(width: int, draws: Sequence[int], setup: Setup, key: jax.Array,
              num_masks: int, data=None, analytic=None, progress=None) -> dict:
    """All Theorem 7.2 terms for one width and several s.

    Args:
      width: hidden width N (every hidden layer).
      draws: the s values.
      setup: the rest of the configuration.
      key: PRNG key for init and masks.
      num_masks: Monte Carlo masks per s.
      data: (X, Y), made from `key` if None (pass the same data to compare widths).
      analytic: (lambda_min, lambda_max, eta_crit) of the analytic NTK on X, computed if None.
      progress: optional callable(str) told about each stage.

    Returns:
      A dict of scalars (float), the proof's factors ("chain") and one row per s ("rows").
    """
    from sketchjax.ntk._compat import empirical_ntk_fn  # neural-tangents only here
    say = progress or (lambda _msg: None)
    k_data, k_init, k_masks = jax.random.split(key, 3)
    x, y = make_data(k_data, setup.num_examples, setup.input_dim) if data is None else data
    if analytic is None:
        analytic = spectrum(analytic_ntk(x, x, depth=setup.depth, w_std=setup.w_std,
                                         b_std=setup.b_std, activation=setup.activation))
    lmin, lmax, eta_crit = analytic

    model = NTKMLP(widths=(width,) * setup.depth, outputs=1, w_std=setup.w_std,
                   b_std=setup.b_std, activation=setup.activation)
    apply_fn = _apply_fn(model)
    params0 = model.init(k_init, x)["params"]
    theta0, _ = ravel_pytree(params0)
    d = int(theta0.size)

    say(f"width {width}: empirical NTK at init ({d:,} params)")
    emp = empirical_ntk_fn(apply_fn, setup.ntk_implementation, trace_axes=(-1,))(x, None, params0)
    lmin_emp, lmax_emp, eta_emp = spectrum(emp)
    eta0 = setup.lr_fraction * min(eta_crit, eta_emp)

    say(f"width {width}: {setup.steps} GD steps")
    trajectory, losses = train(apply_fn, params0, x, y, eta0, setup.steps, setup.checkpoints)
    r0 = math.sqrt(2.0 * losses[0])

    say(f"width {width}: K along the trajectory")
    kinfo = measure_k(apply_fn, trajectory, x, setup.example_batch)
    k = kinfo["K"]
    dist = [float(jnp.linalg.norm(ravel_pytree(p)[0] - theta0)) for p in trajectory]

    say(f"width {width}: Jacobian column norms")
    terms = _jacobian_terms(apply_fn, params0, trajectory[-1], x, setup.example_batch)
    # Masks held at once: at most ~2**26 floats of masks (16 masks at d = 4M, 4 at d = 17M).
    mask_batch = max(1, min(setup.mask_batch, (1 << 26) // d))
    rows = []
    for i, s in enumerate(draws):
        say(f"width {width}: Monte Carlo, s = {s}")
        errs = lhs_monte_carlo(jax.random.fold_in(k_masks, i), apply_fn, trajectory[-1], x,
                               terms.probs, int(s), num_masks, mask_batch)
        rows.append(_row(int(s), np.asarray(errs, np.float64), terms, k, r0, lmin, lmin_emp))
    factors = rhs(k, terms.theta0, terms.col_sq0, r0, lmin, 1)
    return {
        "width": width, "d": d, "num_examples": setup.num_examples,
        "lambda_min": lmin, "lambda_max": lmax, "eta_critical": eta_crit,
        "lambda_min_empirical": lmin_emp, "lambda_max_empirical": lmax_emp,
        "eta_critical_empirical": eta_emp, "eta0": eta0,
        "R0": r0, "loss_initial": losses[0], "loss_final": losses[-1], "losses": losses,
        "K": k, "jacobian_fro_max": kinfo["jacobian_fro_max"],
        "lipschitz_max": kinfo["lipschitz_max"],
        "theta_dist": dist[-1], "theta_dist_max": nan_max(dist),
        "theta_dist_bound": 3.0 * k * r0 / lmin,
        "theta0_l1": factors["theta0_l1"], "F_J0": factors["F_J0"],
        "F_theta0": factors["F_theta0"], "f_lin_sq": terms.f_lin_sq,
        "chain": _proof_chain(terms, factors, k, r0, lmin), "rows": rows,
    }


@dataclasses.dataclass(frozen=True)
class _JacobianTerms:
    """What the bounds need from J_0 = J(theta_0) and J_t = J(theta_t); arrays are (d,), flat
    in ravel_pytree order, float64 on the host unless said otherwise."""
    probs: jax.Array      # the mask probabilities (float32, on device) for the Monte Carlo
    probs64: np.ndarray   # the same, recomputed in float64 for the closed forms
    col_sq0: np.ndarray   # ||J_0^(k)||^2
    col_sq_t: np.ndarray  # ||J_t^(k)||^2
    theta0: np.ndarray
    theta_t: np.ndarray
    f_lin_sq: float       # ||J_t theta_t||^2
    a: float              # sum_k ||J_0^(k)|| |theta_0k|        (A of the proof's chain)
    b: float              # sum_k ||J_t^(k)||^2 / ||J_0^(k)||   (B)
    c: float              # sum_k theta_tk^2 / |theta_0k|       (C)


def _jacobian_terms(apply_fn: Callable, params0, params_t, x: jax.Array,
                    batch_size: int) -> _JacobianTerms:
    """Jacobian column norms at theta_0 and theta_t (per example chunk of `batch_size`), the
    mask probabilities and the sums of the proof's chain."""
    theta0, _ = ravel_pytree(params0)
    theta_t, _ = ravel_pytree(params_t)
    col_sq0 = ravel_pytree(jacobian.column_sq_norms(apply_fn, params0, x, batch_size))[0]
    col_sq_t = ravel_pytree(jacobian.column_sq_norms(apply_fn, params_t, x, batch_size))[0]
    f_lin = jacobian.jvp_outputs(apply_fn, params_t, params_t, x)
    np_col0 = np.asarray(col_sq0, np.float64)
    np_colt = np.asarray(col_sq_t, np.float64)
    np_theta0 = np.asarray(theta0, np.float64)
    np_theta_t = np.asarray(theta_t, np.float64)
    scores = np_col0 ** 0.5 * np.abs(np_theta0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = float(np.sum(_safe_ratio(np_colt, np_col0 ** 0.5)))
        c = float(np.sum(_safe_ratio(np_theta_t ** 2, np.abs(np_theta0))))
    return _JacobianTerms(probs=mask_probs(col_sq0, theta0), probs64=scores / scores.sum(),
                          col_sq0=np_col0, col_sq_t=np_colt, theta0=np_theta0,
                          theta_t=np_theta_t, f_lin_sq=float(jnp.sum(jnp.square(f_lin))),
                          a=float(np.sum(scores)), b=b, c=c)


def _row(s: int, errs: np.ndarray, t: _JacobianTerms, k: float, r0: float, lmin: float,
         lmin_emp: float) -> dict:
    """The terms at one s from the Monte Carlo squared errors `errs` (num_masks,)."""
    return {
        "s": s, "density": s / t.theta0.size,
        "lhs": float(errs.mean()), "lhs_stderr": float(errs.std(ddof=1) / math.sqrt(errs.size)),
        "closed_form": closed_form(t.col_sq_t, t.theta_t, t.probs64, t.f_lin_sq, s),
        "intermediate": intermediate_bound(t.col_sq_t, t.theta_t, t.probs64, s),
        "product_bound": t.a * t.b * t.c / s,
        "rhs": rhs(k, t.theta0, t.col_sq0, r0, lmin, s)["rhs"],
        "rhs_empirical_lmin": rhs(k, t.theta0, t.col_sq0, r0, lmin_emp, s)["rhs"],
    }


def _proof_chain(t: _JacobianTerms, factors: dict, k: float, r0: float, lmin: float) -> dict:
    """The proof's factors A, B, C (B.6) beside the bounds it puts on them, to see where the
    RHS's slack comes from; `factors` is `rhs(...)` at s = 1."""
    return {
        "A": t.a, "A_bound": k * factors["theta0_l1"],
        "B": t.b, "B_bound": factors["F_J0"] * k ** 2,
        "C": t.c,
        "C_bound": (factors["theta0_l1"] + factors["F_theta0"] * 9.0 * k ** 4 * r0 ** 2 / lmin ** 2
                    + 6.0 * math.sqrt(factors["d"]) * k ** 3 * r0 / lmin),
    }


@functools.lru_cache(maxsize=None)
def _apply_fn(model: NTKMLP) -> Callable:
    # One callable per model config, so the jitted helpers (static apply_fn) compile once.
    def apply_fn(params, x):
        return model.apply({"params": params}, x)
    return apply_fn
