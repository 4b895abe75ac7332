"""Jacobian column norms of a ~1M-parameter MLP on 128 examples: chunked vs flattened.

    python benchmarks/bench_column_norms.py [--width 1000] [--examples 128] [--batch-size 8]
                                            [--outputs 1] [--repeats 3] [--skip-flat]

Each variant runs in its own subprocess so that its peak resident memory (ru_maxrss) is its
own: `baseline` only builds the model and data, `chunked` is ntk.jacobian.column_sq_norms
(per-example reverse mode, `batch_size` examples at a time, summed in a lax.scan), `flat` is
the oracle column_sq_norms_flat (the full (examples * outputs, params) Jacobian by jax.jacrev).
Printed: the first call (compile + run), the best of `repeats` further calls, the peak RSS and
the peak above the baseline process, and whether the two agree.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _child(args) -> dict:
    sys.path.insert(0, ROOT)
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.flatten_util import ravel_pytree

    from sketchjax.ntk import jacobian
    from sketchjax.ntk.mlp import NTKMLP

    model = NTKMLP(widths=(args.width, args.width), outputs=args.outputs)
    x = jax.random.normal(jax.random.key(1), (args.examples, args.input_dim), jnp.float32)
    params = model.init(jax.random.key(0), x)["params"]

    def apply_fn(p, xs):
        return model.apply({"params": p}, xs)

    num_params = int(ravel_pytree(params)[0].size)
    out = {"mode": args.mode, "params": num_params, "examples": args.examples,
           "outputs": args.outputs}
    if args.mode == "baseline":
        jax.block_until_ready(params)
        out["peak_rss_mib"] = _peak_rss_mib()
        return out
    if args.mode == "chunked":
        def fn():
            return jacobian.column_sq_norms(apply_fn, params, x, args.batch_size)
        out["batch_size"] = args.batch_size
    else:
        def fn():
            return jacobian.column_sq_norms_flat(apply_fn, params, x)
    start = time.perf_counter()
    result = jax.block_until_ready(fn())
    out["first_call_s"] = time.perf_counter() - start
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    out["best_s"] = min(times)
    out["peak_rss_mib"] = _peak_rss_mib()
    flat = np.asarray(ravel_pytree(result)[0], np.float64)
    out["trace"] = float(flat.sum())
    np.save(args.save, flat)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=1000)
    p.add_argument("--input-dim", type=int, default=32)
    p.add_argument("--outputs", type=int, default=1)
    p.add_argument("--examples", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-flat", action="store_true", help="do not run the flattened oracle")
    p.add_argument("--mode", choices=("baseline", "chunked", "flat"), help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mode:
        print(json.dumps(_child(args)))
        return 0

    import tempfile

    import numpy as np
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        modes = ["baseline", "chunked"] + ([] if args.skip_flat else ["flat"])
        for mode in modes:
            cmd = [sys.executable, os.path.abspath(__file__), "--mode", mode,
                   "--save", os.path.join(tmp, f"{mode}.npy")]
            for flag in ("width", "input_dim", "outputs", "examples", "batch_size", "repeats"):
                cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{mode} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}",
                      file=sys.stderr)
                results[mode] = None
                continue
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        base = results["baseline"]
        print(f"column norms of an NTK MLP ({base['params']:,} params, widths "
              f"{args.width}x{args.width}, {args.outputs} output(s)) on {args.examples} examples;"
              f" {os.cpu_count()} CPU cores")
        print(f"{'variant':<28}{'first call (s)':>16}{'best (s)':>10}{'peak RSS (MiB)':>16}"
              f"{'above baseline':>16}")
        print(f"{'baseline (model + data)':<28}{'-':>16}{'-':>10}{base['peak_rss_mib']:>16.0f}"
              f"{'-':>16}")
        for mode, label in (("chunked", f"chunked (batch {args.batch_size})"),
                            ("flat", "flattened jacrev (oracle)")):
            r = results.get(mode)
            if r is None:
                continue
            print(f"{label:<28}{r['first_call_s']:>16.2f}{r['best_s']:>10.2f}"
                  f"{r['peak_rss_mib']:>16.0f}{r['peak_rss_mib'] - base['peak_rss_mib']:>16.0f}")
        if results.get("flat") and results.get("chunked"):
            a = np.load(os.path.join(tmp, "chunked.npy"))
            b = np.load(os.path.join(tmp, "flat.npy"))
            rel = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
            print(f"max |chunked - flat| / max |flat| = {rel:.2e}; flattened Jacobian alone: "
                  f"{args.examples * args.outputs * base['params'] * 4 / 2 ** 20:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
