"""The figures of `ntk.verify_linear`: the linear model's error against s, and Theorem 4.4
against the size of the weight change (matplotlib figures; the caller writes them)."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from sketchjax import theory as th


def errors_vs_s(ex, w0, w_gd, n: int, d: int):
    """Error against s for w* = w0 and w* from gradient descent: Monte Carlo beside the exact
    forms and the bounds (`ex`: one row per s of `verify_linear`)."""
    import matplotlib.pyplot as plt
    s = np.array([r["s"] for r in ex], np.float64)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=False)
    panels = (("w0", w0, "w* = w0 (at initialisation)"),
              ("gd", w_gd, "w* from gradient descent"))
    for ax, (tag, w_star, title) in zip(axes, panels):
        sk = np.array([r[f"{tag}_p0"] for r in ex])
        sk_se = np.array([r[f"{tag}_p0_se"] for r in ex])
        un = np.array([r[f"{tag}_uni"] for r in ex])
        un_se = np.array([r[f"{tag}_uni_se"] for r in ex])
        top = np.array([r[f"{tag}_top"] for r in ex])
        ax.errorbar(s, sk, yerr=4 * sk_se, fmt="o", color="C0", label="sketch, p0 (Monte Carlo)")
        ax.plot(s, [float(th.theorem44_expected_error(w0, w_star, int(v), n)) for v in s],
                "-", color="C0", lw=1, label="sketch, p0: exact E_X E_m")
        ax.errorbar(s, un, yerr=4 * un_se, fmt="s", color="C1",
                    label="uniform sampling (Monte Carlo)")
        ax.plot(s, [float(th.lemma45_expected_error(w_star, int(v))) for v in s], "-",
                color="C1", lw=1, label="uniform: exact ((d-1)/s)||w*||^2")
        keep = top > 0
        ax.plot(s[keep], top[keep], "^-", color="C2", label="hard top-s by ||X_(k)|| |w0_k|")
        ax.plot(s, [float(th.theorem44_bound(w0, w_star, int(v))) for v in s], "--",
                color="C3", label="Theorem 4.4 bound (as printed)")
        ax.plot(s, [float(th.theorem44_corrected_bound(w0, w_star, int(v))) for v in s], ":",
                color="C3", label="Theorem 4.4, min|w0_k| (corrected)")
        ax.plot(s, [float(th.lemma45_bound(w_star, int(v))) for v in s], "--", color="C1",
                label="Lemma 4.5 bound (d/s)||w*||^2")
        if tag == "w0":
            ax.plot(s, [float(th.lemma42_bound(w0, int(v))) for v in s], "--", color="C4",
                    label="Lemma 4.2 bound ||w0||^2/s (as printed)")
        ax.plot(s, sk[0] * s[0] / s, color="0.6", lw=0.8, label="slope 1/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("s (draws of Algorithm 1)")
        ax.set_ylabel("E_X ||X^T w* - X^T(w* . m)||^2")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Linear model, X ~ N(0, 1/n), d = {d}, n = {n}: error vs s "
                 f"(error bars: 4 SE); top-s is 0 once s >= d")
    return fig


def theorem44_vs_perturbation(w0, g, w_gd, n: int, pert_rows, s: int):
    """Theorem 4.4's bound and the exact error at s draws against the size of w* - w0."""
    import matplotlib.pyplot as plt
    eps = np.logspace(-3, 1.5, 40)
    cols = {"exact": [], "paper": [], "corrected": [], "l45": [], "uni": []}
    for e in eps:
        w_star = w0 + float(e) * g
        cols["exact"].append(float(th.theorem44_expected_error(w0, w_star, s, n)))
        cols["paper"].append(float(th.theorem44_bound(w0, w_star, s)))
        cols["corrected"].append(float(th.theorem44_corrected_bound(w0, w_star, s)))
        cols["l45"].append(float(th.lemma45_bound(w_star, s)))
        cols["uni"].append(float(th.lemma45_expected_error(w_star, s)))
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    ax.plot(eps, cols["exact"], "-", color="C0", label="sketch p0: exact E_X E_m")
    ax.errorbar([r["eps"] for r in pert_rows], [r["mc"] for r in pert_rows],
                yerr=[4 * r["se"] for r in pert_rows], fmt="o", color="C0",
                label="sketch p0: Monte Carlo")
    ax.plot(eps, cols["paper"], "--", color="C3", label="Theorem 4.4 as printed")
    ax.plot(eps, cols["corrected"], ":", color="C3", label="Theorem 4.4 corrected (min|w0_k|)")
    ax.plot(eps, cols["uni"], "-", color="C1", label="uniform: exact E_X E_m")
    ax.plot(eps, cols["l45"], "--", color="C1", label="Lemma 4.5 bound")
    rel = float(jnp.linalg.norm(w_gd - w0) / jnp.linalg.norm(w0))
    ax.axvline(rel, color="0.5", lw=0.8)
    ax.text(rel, min(cols["exact"]), " GD w*", color="0.4",
            fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("eps: w* = w0 + eps N(0, 1/d)   (~ ||w* - w0|| / ||w0||)")
    ax.set_ylabel(f"E_X E_m error at s = {s}")
    ax.set_title("Theorem 4.4 vs the size of the weight change")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
