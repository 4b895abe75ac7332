"""sketchjax against PyTorch, measured in the same session on the same machine, alternately.

    python benchmarks/side_by_side.py train --model resnet20 --repeats 3
    python benchmarks/side_by_side.py synflow --model vgg19_bn --repeats 2
    python benchmarks/side_by_side.py process --model resnet20 --repeats 3
    python benchmarks/side_by_side.py all
    python benchmarks/side_by_side.py train --jax-python .venv/bin/python \
        --jax-python .venv-newest/bin/python          # two jax stacks against one PyTorch

Each repeat runs `baselines/torch_side.py` and then `jax_side.py` as two fresh processes (so
neither side's threads or caches touch the other's), with the same task, model and sizes;
PyTorch gets `--threads` intra-op threads (default: the machine's cores, printed), XLA:CPU its
default (one Eigen pool over every core). Prints every run, the best of each side and the
ratio, and appends the JSON lines to `--log` if given. Needs torch: `pip install -e ".[bench]"`.

`process` times whole processes (imports, initialisation, compilation, 100 SynFlow rounds,
writing the result): `prune.py --method synflow` with a fresh persistent compilation cache
(first run) and again with that cache filled (second run), against the PyTorch SynFlow process.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = {"train": ("resnet20", "vgg19_bn"), "synflow": ("resnet20", "vgg19_bn"),
         "snip": ("resnet20", "vgg19_bn"), "grasp": ("resnet20", "vgg19_bn")}


def run(python: str, script: Path, task: str, model: str, extra: list[str]) -> dict:
    argv = [python, str(script), task, "--model", model, *extra]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(task: str, model: str, repeats: int, threads: int, extra: list[str],
            log: Path | None, jax_pythons: list[str]) -> None:
    """Each repeat: PyTorch, then sketchjax under each interpreter (one jax stack each)."""
    sides = {"pytorch": (sys.executable, HERE / "baselines" / "torch_side.py",
                         ["--threads", str(threads)])}
    for python in jax_pythons:
        sides[python] = (python, HERE / "jax_side.py", [])
    results: dict[str, list[dict]] = {side: [] for side in sides}
    for _ in range(repeats):
        for side, (python, script, side_extra) in sides.items():
            r = run(python, script, task, model, extra + side_extra)
            results[side].append(r)
            if log:
                with log.open("a") as f:
                    f.write(json.dumps(dict(r, python=python)) + "\n")
    key = "img_per_s" if task == "train" else "seconds"
    values = {side: [r[key] for r in rs] for side, rs in results.items()}
    best = {side: (max(v) if key == "img_per_s" else min(v)) for side, v in values.items()}
    line = (f"{task} {model} {' '.join(extra)}: PyTorch ({results['pytorch'][0]['threads']} "
            f"threads) {', '.join(f'{v:.3g}' for v in values['pytorch'])} {key}")
    for python in jax_pythons:
        ratio = (best[python] / best["pytorch"] if key == "img_per_s"
                 else best["pytorch"] / best[python])
        first = results[python][0]
        line += (f" | sketchjax on jax {first['version']} (XLA:CPU, {first['threads']} cores) "
                 f"{', '.join(f'{v:.3g}' for v in values[python])}: sketchjax / PyTorch speed "
                 f"= {ratio:.2f}x")
        if task != "train":
            line += f" (whole process {min(r['process_seconds'] for r in results[python]):.1f} s)"
    print(line, flush=True)


def process_times(model: str, repeats: int, threads: int) -> None:
    """Whole-process wall times of SynFlow (100 rounds): PyTorch; ours cold and warm cache."""
    repo = HERE.parent
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    times = {"pytorch": [], "first": [], "second": []}

    def timed(argv, extra_env):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, text=True, env={**env, **extra_env},
                       check=True)
        return time.perf_counter() - start
    for _ in range(repeats):
        times["pytorch"].append(timed([sys.executable, str(HERE / "baselines" / "torch_side.py"),
                                       "synflow", "--model", model, "--threads", str(threads)],
                                      {}))
        with tempfile.TemporaryDirectory() as tmp:
            ours = [sys.executable, str(repo / "prune.py"), "--method", "synflow", "--model",
                    model, "--quiet", "--force", "--out", f"{tmp}/m.npz"]
            cache = {"SKETCHJAX_COMPILE_CACHE": f"{tmp}/cache"}
            times["first"].append(timed(ours, cache))
            times["second"].append(timed(ours, cache))
    best = {k: min(v) for k, v in times.items()}
    print(f"synflow process {model}: PyTorch ({threads} threads) "
          f"{', '.join(f'{t:.1f}' for t in times['pytorch'])} s | prune.py first run "
          f"{', '.join(f'{t:.1f}' for t in times['first'])} s | second run (compile cache) "
          f"{', '.join(f'{t:.1f}' for t in times['second'])} s | best: ours / PyTorch = "
          f"{best['first'] / best['pytorch']:.2f}x first, {best['second'] / best['pytorch']:.2f}x "
          "second (time ratio, lower is faster)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=tuple(TASKS) + ("process", "all"))
    p.add_argument("--model", choices=("resnet20", "vgg19_bn"), default=None,
                   help="default: both")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--masked", action="store_true", help="train: a 10%% mask on both sides")
    p.add_argument("--log", type=Path, default=None)
    p.add_argument("--jax-python", action="append", default=None,
                   help="an interpreter whose environment runs sketchjax's side (repeat it to "
                        "compare jax stacks in one run); default: this one")
    args = p.parse_args()
    jax_pythons = args.jax_python or [sys.executable]
    print(f"machine: {os.cpu_count()} CPUs; PyTorch threads {args.threads}")
    if args.task == "process":
        for model in ([args.model] if args.model else ("resnet20", "vgg19_bn")):
            process_times(model, args.repeats, args.threads)
        return
    tasks = TASKS if args.task == "all" else {args.task: TASKS[args.task]}
    for task, models in tasks.items():
        for model in ([args.model] if args.model else models):
            extra = ["--masked"] if task == "train" and args.masked else []
            compare(task, model, args.repeats, args.threads, extra, args.log, jax_pythons)


if __name__ == "__main__":
    main()
