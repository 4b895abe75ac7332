"""Check Theorem 7.2 (NTK regime) numerically for several widths and mask sizes s.

    python -m sketchjax.ntk.verify_theorem72 [--widths 256,1024,4096] [--densities 0.001,0.01,0.1 |
                                    --draws 10,100,1000] [--samples 128] [--steps 300]
                                    [--seed 0] [--out results/theory/theorem72] [--report-only]

For each width: an MLP in NTK parameterisation (depth 2, erf) on 32 examples, full-batch GD on
1/2 ||f - Y||^2 with eta0 = min(eta_crit analytic, eta_crit empirical) <= eta_crit; then the
LHS of Theorem 7.2 by Monte Carlo over masks of Algorithm 1, its exact value, the intermediate
bound of the proof (Lemma 4.3), the printed RHS, K, R_0, lambda_min and the step
||theta_t - theta_0|| <= 3 K R_0 / lambda_min. Writes OUT/summary.json, OUT/summary.md,
OUT/theorem72_vs_s.png and OUT/theorem72_vs_width.png. Exit 1 if a statement fails, 2 on bad
flags (nothing written); --report-only always exits 0.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

from sketchjax.ntk.checks import FLOAT_TOL, Z_MAX, Check, cli_main, fmt, parse_list, z_score
from sketchjax.atomic import check_writable
from sketchjax.errors import SketchjaxError, check_int

PROG = "python -m sketchjax.ntk.verify_theorem72"
DEFAULT_OUT = os.path.join("results", "theory", "theorem72")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Check Theorem 7.2 (NTK regime) numerically.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--widths", default="256,1024,4096",
                   help="comma-separated hidden widths N (every hidden layer)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--densities", default=None,
                       help="comma-separated s/d in (0, 1] (default 0.001,0.01,0.1)")
    group.add_argument("--draws", default=None,
                       help="comma-separated s values, the same for every width")
    p.add_argument("--samples", type=int, default=128, help="Monte Carlo masks per (width, s)")
    p.add_argument("--steps", type=int, default=300, help="full-batch GD steps")
    p.add_argument("--examples", type=int, default=32, help="training examples")
    p.add_argument("--input-dim", type=int, default=8, help="input dimension")
    p.add_argument("--depth", type=int, default=2, help="hidden layers")
    p.add_argument("--activation", default="erf", choices=("erf", "relu"))
    p.add_argument("--lr-fraction", type=float, default=1.0,
                   help="eta0 = this * min(eta_crit analytic, eta_crit empirical), in (0, 1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT, help="output directory")
    p.add_argument("--report-only", action="store_true",
                   help="always exit 0, even when a statement fails")
    return p


def check_args(args: argparse.Namespace) -> argparse.Namespace:
    """Check the values and parse the lists in place (SketchjaxError on a bad one)."""
    args.widths = parse_list(args.widths, int, "--widths", 1, 1 << 16)
    if args.draws is not None:
        args.draws = parse_list(args.draws, int, "--draws", 1, 100_000_000)
        args.densities = None
    else:
        args.densities = parse_list(args.densities or "0.001,0.01,0.1", float, "--densities",
                                    0.0, 1.0, low_open=True)
    for name, value, low in (("--samples", args.samples, 16), ("--steps", args.steps, 1),
                             ("--examples", args.examples, 2), ("--input-dim", args.input_dim, 1),
                             ("--depth", args.depth, 1)):
        check_int(value, name, low)
    if not 0.0 < args.lr_fraction <= 1.0:
        raise SketchjaxError(f"--lr-fraction must be in (0, 1] (the theorem needs eta0 <= "
                             f"eta_critical); got {args.lr_fraction}")
    check_writable(args.out, folder=True)
    return args


def _draws_for(d: int, args) -> list[int]:
    if args.draws is not None:
        return list(args.draws)
    return sorted({max(1, round(rho * d)) for rho in args.densities})


def run(args: argparse.Namespace):
    """All widths for the validated flags: checks, figures, title, preamble and the extra
    markdown tables."""
    import jax
    from tqdm import tqdm

    from sketchjax.ntk import theorem72 as t72
    from sketchjax.ntk.mlp import analytic_ntk

    setup = t72.Setup(num_examples=args.examples, input_dim=args.input_dim, depth=args.depth,
                      activation=args.activation, lr_fraction=args.lr_fraction,
                      steps=args.steps, w_std=1.5 if args.activation == "erf" else math.sqrt(2),
                      b_std=0.1)
    key = jax.random.key(args.seed)
    data = t72.make_data(jax.random.fold_in(key, 1_000_003), setup.num_examples,
                         setup.input_dim)
    analytic = t72.spectrum(analytic_ntk(data[0], data[0], depth=setup.depth,
                                         w_std=setup.w_std, b_std=setup.b_std,
                                         activation=setup.activation))
    results, checks = [], []
    bar = tqdm(args.widths, desc="verify_theorem72", unit="width", file=sys.stderr)
    for width in bar:
        start = time.time()
        d = _num_params(width, setup)
        res = t72.run_width(width, _draws_for(d, args), setup, jax.random.fold_in(key, width),
                            args.samples, data=data, analytic=analytic,
                            progress=lambda msg: bar.set_postfix_str(msg))
        res["seconds"] = time.time() - start
        results.append(res)
        checks.extend(_checks_for(res, args, setup))
    bar.close()

    figures = {"theorem72_vs_s.png": _plot_vs_s(results),
               "theorem72_vs_width.png": _plot_vs_width(results)}
    preamble = (f"MLP in NTK parameterisation, {setup.depth} hidden layers of width N, "
                f"{setup.activation}, W_std {setup.w_std:g}, b_std {setup.b_std:g}; "
                f"{setup.num_examples} examples in R^{setup.input_dim} (on the sphere of radius "
                f"sqrt({setup.input_dim})), targets sin(2 x.v/sqrt(d_in)); {setup.steps} GD steps "
                f"on 1/2 ||f - Y||^2 with eta0 = {setup.lr_fraction:g} x min(eta_crit analytic, "
                f"eta_crit empirical); {args.samples} masks per (N, s); seed {args.seed}. "
                f"LHS = E_m ||f_t^lin - J_t(theta_t . m)||^2 by Monte Carlo; 'closed' its exact "
                f"value (Lemma B.2); 'intermediate' = Lemma 4.3's bound with p from J_0, theta_0; "
                f"RHS = Theorem 7.2 as printed. K = max over the trajectory of ||J||_F and the "
                f"Jacobian's Lipschitz ratio between checkpoints (a lower estimate of "
                f"Definition 7.1's K).")
    return (checks, figures, "Theorem 7.2 checks (NTK regime)", preamble,
            _tables(results))


def _num_params(width: int, setup) -> int:
    d, fan_in = 0, setup.input_dim
    for _ in range(setup.depth):
        d += fan_in * width + (width if setup.b_std else 0)
        fan_in = width
    return d + fan_in + (1 if setup.b_std else 0)


def _checks_for(res: dict, args, setup) -> list[Check]:
    w = res["width"]
    base = {"N": w, "d": res["d"], "examples": setup.num_examples, "steps": setup.steps,
            "seed": args.seed}
    out = [
        Check(f"7.2/eta N={w}", "eta0 <= eta_critical = 2/(lambda_min + lambda_max), analytic NTK",
              res["eta0"] <= res["eta_critical"] * (1 + FLOAT_TOL), res["eta0"],
              res["eta_critical"], must_hold=False,
              settings={**base, "lambda_min": res["lambda_min"], "lambda_max": res["lambda_max"]},
              note="the theorem's precondition, true by construction (eta0 = lr_fraction x "
                   "min(eta_critical, the empirical NTK's)): shown, not counted"),
        Check(f"7.2/step N={w}", "max_t ||theta_t - theta_0|| <= 3 K R_0 / lambda_min",
              res["theta_dist_max"] <= res["theta_dist_bound"], res["theta_dist_max"],
              res["theta_dist_bound"], settings={**base, "K": res["K"], "R0": res["R0"]},
              note="details: every measured term of this width",
              details={k: v for k, v in res.items() if k != "rows"}),
    ]
    for row in res["rows"]:
        s = row["s"]
        z = z_score(row["lhs"], row["lhs_stderr"], row["closed_form"])
        out.append(Check(
            f"7.2/MC N={w} s={s}", "LHS by Monte Carlo = its exact value (Lemma B.2 with J_t, "
            "theta_t and p from J_0, theta_0)", abs(z) <= Z_MAX, abs(z), Z_MAX,
            settings={**base, "s": s, "masks": args.samples}, note="measured = |z|"))
        chain = (row["closed_form"] <= row["intermediate"] * (1 + FLOAT_TOL)
                 and row["lhs"] - Z_MAX * row["lhs_stderr"] <= row["intermediate"]
                 and row["intermediate"] <= row["rhs"])
        out.append(Check(
            f"7.2 N={w} s={s}", "LHS <= intermediate (Lemma 4.3) <= RHS (Theorem 7.2 as printed)",
            chain, row["lhs"], row["rhs"],
            settings={**base, "s": s, "density": row["density"],
                      "intermediate": row["intermediate"], "lhs_stderr": row["lhs_stderr"]},
            note="measured = LHS (Monte Carlo), bound = RHS", details=row))
    return out


def _tables(results: list[dict]) -> str:
    """The markdown after the checks: per-width terms, per-(width, s) bounds, the proof's slack
    factor by factor, and the scaling in N and s."""
    lines = (_terms_table(results) + _bounds_table(results) + _slack_table(results)
             + _scaling_lines(results))
    return "\n".join(lines) + "\n"


def _terms_table(results: list[dict]) -> list[str]:
    lines = ["### Measured terms per width", "",
             "| N | d | lambda_min analytic / empirical | eta0 / eta_crit | R_0 | K | "
             r"max \|J\|_F | Lipschitz ratio | \|theta_t - theta_0\| | 3 K R_0 / lambda_min | "
             "final loss | time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['width']} | {r['d']:,} | {fmt(r['lambda_min'])} / "
            f"{fmt(r['lambda_min_empirical'])} | {fmt(r['eta0'])} / {fmt(r['eta_critical'])} | "
            f"{fmt(r['R0'])} | {fmt(r['K'])} | {fmt(r['jacobian_fro_max'])} | "
            f"{fmt(r['lipschitz_max'])} | {fmt(r['theta_dist'])} | "
            f"{fmt(r['theta_dist_bound'])} | {fmt(r['loss_final'], 3)} | {r['seconds']:.0f} |")
    return lines


def _bounds_table(results: list[dict]) -> list[str]:
    lines = ["", "### LHS, intermediate bound and RHS per width and s", "",
             "| N | s | s/d | LHS (MC) +- SE | closed form | intermediate | RHS | "
             "intermediate / LHS | RHS / LHS | s * LHS |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for row in r["rows"]:
            lines.append(
                f"| {r['width']} | {row['s']:,} | {fmt(row['density'], 3)} | "
                f"{fmt(row['lhs'])} +- {fmt(row['lhs_stderr'], 2)} | {fmt(row['closed_form'])} | "
                f"{fmt(row['intermediate'])} | {fmt(row['rhs'], 3)} | "
                f"{fmt(row['intermediate'] / row['lhs'], 3)} | {fmt(row['rhs'] / row['lhs'], 3)}"
                f" | {fmt(row['s'] * row['lhs'])} |")
    return lines


def _slack_table(results: list[dict]) -> list[str]:
    lines = ["", "### Where the RHS's slack comes from (proof of Theorem 7.2, Appendix B.6)", "",
             "The proof bounds (1/s) sum_k a_k b_k c_k (the intermediate bound, with a_k = "
             "sum_j ||J_0^(j)|| |theta_0j|, b_k = ||J_t^(k)||^2/||J_0^(k)||, c_k = "
             "theta_tk^2/|theta_0k|) by the product of sums (1/s) A B C, then A <= K "
             "||theta_0||_1, B <= F(J_0) K^2, C <= ||theta_0||_1 + F(theta_0) 9 K^4 R_0^2/"
             "lambda_min^2 + 6 sqrt(d) K^3 R_0/lambda_min. Factor by factor (bound / measured):",
             "",
             r"| N | product of sums / intermediate | K \|theta_0\|_1 / A | F(J_0) K^2 / B | "
             "C bound / C | RHS / intermediate |",
             "|---|---|---|---|---|---|"]
    for r in results:
        c = r["chain"]
        row = r["rows"][0]
        lines.append(
            f"| {r['width']} | {fmt(row['product_bound'] / row['intermediate'], 3)} | "
            f"{fmt(c['A_bound'] / c['A'], 3)} | {fmt(c['B_bound'] / c['B'], 3)} | "
            f"{fmt(c['C_bound'] / c['C'], 3)} | {fmt(row['rhs'] / row['intermediate'], 3)} |")
    return lines


def _scaling_lines(results: list[dict]) -> list[str]:
    """Log-log slopes of LHS and RHS across widths (per row of s), and of LHS across s."""
    lines = []
    if len(results) >= 2:
        lines += ["", "### Scaling", ""]
        num = min(len(r["rows"]) for r in results)
        widths = np.log([r["width"] for r in results])
        for i in range(num):
            label = _row_label(results, i)
            slopes = {name: np.polyfit(widths, np.log([r["rows"][i][name] for r in results]),
                                       1)[0] for name in ("lhs", "rhs")}
            lines.append(f"- at {label}: LHS ~ N^{slopes['lhs']:.2f}, RHS ~ N^{slopes['rhs']:.2f}"
                         f" across widths {', '.join(str(r['width']) for r in results)}.")
    for r in results:
        if len(r["rows"]) >= 2:
            slope = np.polyfit(np.log([row["s"] for row in r["rows"]]),
                               np.log([row["lhs"] for row in r["rows"]]), 1)[0]
            lines.append(f"- N = {r['width']}: LHS ~ s^{slope:.3f} (the theorem: 1/s).")
    return lines


def _row_label(results, i) -> str:
    """'s/d = 0.01' when every width used the same density at row i, else 's = 100'."""
    dens = {round(r["rows"][i]["density"], 2 - int(math.floor(math.log10(
        r["rows"][i]["density"])))) for r in results}
    draws = {r["rows"][i]["s"] for r in results}
    if len(draws) == 1:
        return f"s = {draws.pop()}"
    return f"s/d ~ {fmt(min(dens), 2)}"


def _plot_vs_s(results):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4.6), squeeze=False)
    for ax, r in zip(axes[0], results):
        s = np.array([row["s"] for row in r["rows"]], np.float64)
        lhs = np.array([row["lhs"] for row in r["rows"]])
        se = np.array([row["lhs_stderr"] for row in r["rows"]])
        ax.errorbar(s, lhs, yerr=4 * se, fmt="o", color="C0", label="LHS (Monte Carlo, 4 SE)")
        ax.plot(s, [row["closed_form"] for row in r["rows"]], "-", color="C0", lw=1,
                label="LHS exact (Lemma B.2)")
        ax.plot(s, [row["intermediate"] for row in r["rows"]], "--", color="C2",
                label="intermediate (Lemma 4.3)")
        ax.plot(s, [row["product_bound"] for row in r["rows"]], "-.", color="C4",
                label="product of sums (proof step)")
        ax.plot(s, [row["rhs"] for row in r["rows"]], ":", color="C3", lw=2,
                label="RHS of Theorem 7.2")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("s (draws of Algorithm 1)")
        ax.set_title(f"N = {r['width']} (d = {r['d']:,})")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("E_m ||f_t^lin(X) - J_t (theta_t . m)||^2")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Theorem 7.2: LHS, intermediate bound and RHS vs s, per width")
    return fig


def _plot_vs_width(results):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator
    widths = [r["width"] for r in results]
    num = min(len(r["rows"]) for r in results)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.4))
    for i in range(num):
        label = _row_label(results, i)
        color = f"C{i}"
        a.plot(widths, [r["rows"][i]["lhs"] for r in results], "o-", color=color,
               label=f"LHS, {label}")
        a.plot(widths, [r["rows"][i]["rhs"] for r in results], "^:", color=color,
               label=f"RHS, {label}")
        b.plot(widths, [r["rows"][i]["rhs"] / r["rows"][i]["lhs"] for r in results], "o-",
               color=color, label=label)
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(FixedLocator(widths))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([str(w) for w in widths])
        ax.set_xlabel("width N")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    a.set_ylabel("E_m error")
    a.set_title("LHS and RHS vs width")
    b.set_ylabel("RHS / LHS")
    b.set_title("How loose the printed bound is")
    return fig


def main(argv=None) -> int:
    """Entry point of `python -m sketchjax.ntk.verify_theorem72`; returns the exit status."""
    return cli_main(PROG, build_parser(), check_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
