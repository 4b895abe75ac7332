"""Tables from run records: laid out like the paper's, as markdown, CSV and JSON.

Rows are (model, dataset) blocks of one row per density, with a dense row on top; columns are
the table's. A cell is the test accuracy in %, mean +- sample std over seeds (n), and its
realised density where that is off the nominal one. A randomized column also shows its paired
difference to its deterministic twin, Δ, marked * where the 95% interval excludes 0. At paper
scale the paper's number stands beside ours. The CSV has one row per seed.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sketchjax.atomic import atomic_write_text
from sketchjax.records import write_json

from sketchjax.experiments import stats
from sketchjax.experiments.paper_numbers import PAPER
from sketchjax.experiments.presets import DENSE, TABLE_COLUMNS, TITLES
from sketchjax.experiments.runs import RunSpec, read_record, run_seconds
from sketchjax.experiments.stats import Sample

MODEL_TITLES = {"vgg19_bn": "VGG-19", "vgg19": "VGG-19 (no BN)", "resnet20": "ResNet-20",
                "resnet18": "ResNet-18", "wide_resnet18": "WideResNet-18",
                "wide_resnet20": "WRN-20-32", "lenet_300_100": "LeNet-300-100"}
DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                  "tiny_imagenet": "Tiny-ImageNet", "mnist1d": "MNIST-1D",
                  "mnist1d_large": "MNIST-1D (20k)", "digits": "digits 8x8",
                  "fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}


Key = tuple[str, str, float, str]   # (model, dataset, density, column)
DENSITY_TOLERANCE = 0.02   # a cell's realised density is shown when off the nominal by more


@dataclasses.dataclass(frozen=True)
class Finished:
    """The finished runs of one table, by cell: per seed the test accuracy in % and the
    realised density (total over the prunable weights, and over the layers the method prunes)."""
    accuracy: dict[Key, dict[int, float]]
    density: dict[Key, dict[int, tuple[float, float]]]


def collect(runs: Sequence[RunSpec], out) -> Finished:
    """Per-seed accuracies and realised densities of the finished runs (dense row: 1.0)."""
    accuracy: dict[Key, dict[int, float]] = {}
    density: dict[Key, dict[int, tuple[float, float]]] = {}
    for run in runs:
        record = read_record(run, out)
        if record is not None and record["test_accuracy"] is not None:
            key = (run.model, run.dataset, run.density, run.column)
            accuracy.setdefault(key, {})[run.seed] = 100.0 * record["test_accuracy"]
            total = record["realised_density"]
            density.setdefault(key, {})[run.seed] = (
                total, record.get("realised_density_pruned_layers", total))
    return Finished(accuracy, density)


def table_seconds(runs: Sequence[RunSpec], out) -> float:
    """Measured wall time of the finished runs (`runs.run_seconds`): what the table costs on
    its own, shared runs included."""
    records = (read_record(run, out) for run in runs)
    return sum(run_seconds(r) for r in records if r is not None)


def table_cells(table: str, settings: Sequence[tuple[str, str]], densities: Sequence[float],
                finished: Finished, with_paper: bool) -> list[dict[str, Any]]:
    """One dict per cell: the Sample (per-seed accuracies), the realised densities, the paired
    difference to the column's twin with its 95% interval, the paper's number."""
    columns = {c.name: c for c in TABLE_COLUMNS[table]}
    cells = []
    for model, dataset in settings:
        for density, column in [(1.0, DENSE)] + [(d, c) for d in densities
                                                  for c in TABLE_COLUMNS[table]]:
            key = (model, dataset, density, column.name)
            sample = Sample.of_seeds(finished.accuracy.get(key, {}))
            realised = finished.density.get(key, {})
            cell: dict[str, Any] = {
                "model": model, "dataset": dataset, "density": density, "column": column.name,
                "sample": sample, "realised_density": _mean([t for t, _ in realised.values()]),
                "realised_density_pruned_layers": _mean([p for _, p in realised.values()]),
                "per_seed_density": {s: list(v) for s, v in sorted(realised.items())},
                "twin": column.twin, "diff": None, "diff_lo": None, "diff_hi": None,
                "significant": None, "paper": None}
            twin = columns.get(column.twin) if column.twin else None
            twin_sample = Sample.of_seeds(finished.accuracy.get(
                (model, dataset, density, twin.name), {})) if twin else None
            if sample is not None and twin_sample is not None:
                diff = stats.difference(sample, twin_sample)
                lo, hi = diff.interval(0.95)
                cell["diff"] = diff.mean
                if not math.isnan(lo):
                    cell.update(diff_lo=lo, diff_hi=hi, significant=lo > 0 or hi < 0)
            if with_paper:
                cell["paper"] = PAPER.get((table, model, dataset, density, column.name))
            cells.append(cell)
    return cells


def _mean(values: Sequence[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def _fmt_sample(sample: Optional[Sample]) -> str:
    if sample is None:
        return "-"
    if sample.std is None:
        return f"{sample.mean:.2f} (n = 1)"
    return f"{sample.mean:.2f} ± {sample.std:.2f} ({sample.n})"


def _off_nominal(cell: Mapping[str, Any]) -> bool:
    realised = cell["realised_density"]
    return (realised is not None and cell["density"] < 1.0
            and abs(realised - cell["density"]) > DENSITY_TOLERANCE * cell["density"])


def _fmt_cell(cell: Mapping[str, Any]) -> str:
    text = _fmt_sample(cell["sample"])
    if _off_nominal(cell):
        text += f" @{100 * cell['realised_density']:.2f}%"
    if cell["diff"] is not None:
        text += f" Δ {cell['diff']:+.2f}{'*' if cell['significant'] else ''}"
    if cell["paper"] is not None:
        mean, std = cell["paper"]
        text += f" [paper {mean:.2f}" + (f" ± {std:.2f}]" if std is not None else "]")
    return text


def _block_title(model: str, dataset: str) -> str:
    return f"{MODEL_TITLES.get(model, model)} / {DATASET_TITLES.get(dataset, dataset)}"


def render_markdown(table: str, cells: Sequence[Mapping[str, Any]], note: str = "") -> str:
    """The table as markdown, rows model x density, columns as the paper's."""
    names = [c.name for c in TABLE_COLUMNS[table]]
    lines = [f"## {TITLES[table]}", ""]
    if note:
        lines += [note, ""]
    lines += ["| Model | Density | " + " | ".join(names) + " |",
              "|---|---|" + "---|" * len(names)]
    by_row: dict[tuple, dict[str, Mapping[str, Any]]] = {}
    for cell in cells:
        by_row.setdefault((cell["model"], cell["dataset"], cell["density"]), {})[
            cell["column"]] = cell
    previous = None
    for (model, dataset, density), row in by_row.items():
        block = _block_title(model, dataset) if (model, dataset) != previous else ""
        previous = (model, dataset)
        if density == 1.0 and DENSE.name in row:
            dense = row[DENSE.name]
            lines.append(f"| {block} | dense | {_fmt_cell(dense)} |" + " |" * (len(names) - 1))
            continue
        lines.append(f"| {block} | {density * 100:g}% | "
                     + " | ".join(_fmt_cell(row[n]) if n in row else "-" for n in names) + " |")
    lines += ["", "Test accuracy in %, mean ± sample std over seeds (n). Δ: paired difference "
              "to the column's deterministic twin (" + "; ".join(
                  f"{c.name} vs {c.twin}" for c in TABLE_COLUMNS[table] if c.twin)
              + "), * where its 95% interval excludes 0 (none with one seed). @x%: the "
              "cell's realised density, shown where it is off the nominal one by more than "
              f"{100 * DENSITY_TOLERANCE:g}% of it. The dense row is the unpruned network. "
              "Per-seed accuracies and densities: the .csv and .json beside this file."]
    return "\n".join(lines) + "\n"


def render_csv(table: str, cells: Sequence[Mapping[str, Any]]) -> str:
    """One row per cell and seed: the per-seed accuracy and realised densities beside the
    cell's summary, so the analysis can be redone from this file alone."""
    buf = io.StringIO()
    fields = ["table", "model", "dataset", "density", "column", "seed", "accuracy",
              "realised_density", "realised_density_pruned_layers", "mean", "std", "n", "twin",
              "diff", "diff_lo", "diff_hi", "significant", "paper_mean", "paper_std"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for cell in cells:
        sample, paper = cell["sample"], cell["paper"]
        common = {
            "table": table, "model": cell["model"], "dataset": cell["dataset"],
            "density": cell["density"], "column": cell["column"],
            "mean": "" if sample is None else f"{sample.mean:.4f}",
            "std": "" if sample is None or sample.std is None else f"{sample.std:.4f}",
            "n": 0 if sample is None else sample.n, "twin": cell["twin"] or "",
            **{k: "" if cell[k] is None else f"{cell[k]:.4f}"
               for k in ("diff", "diff_lo", "diff_hi")},
            "significant": "" if cell["significant"] is None else cell["significant"],
            "paper_mean": "" if paper is None else paper[0],
            "paper_std": "" if paper is None or paper[1] is None else paper[1]}
        seeds = sorted(sample.per_seed) if sample is not None else [None]
        for seed in seeds:
            total, pruned = cell["per_seed_density"].get(seed, ("", ""))
            writer.writerow({**common, "seed": "" if seed is None else seed,
                             "accuracy": "" if seed is None else f"{sample.per_seed[seed]:.4f}",
                             "realised_density": total,
                             "realised_density_pruned_layers": pruned})
    return buf.getvalue()


def cells_json(cells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(cell, sample=None if cell["sample"] is None else {
        "mean": cell["sample"].mean, "std": cell["sample"].std, "n": cell["sample"].n,
        "per_seed": {str(s): v for s, v in sorted(cell["sample"].per_seed.items())}},
        per_seed_density={str(s): v for s, v in cell["per_seed_density"].items()},
        paper=None if cell["paper"] is None else list(cell["paper"])) for cell in cells]


def write_table(table: str, cells: Sequence[Mapping[str, Any]], folder, note: str = "",
                meta: Optional[Mapping[str, Any]] = None) -> Path:
    """<folder>/<table>.md, .csv and .json (atomic; `meta`, e.g. timings, in the JSON only, so
    the same runs always render the same markdown); returns the markdown's path."""
    folder = Path(folder)
    atomic_write_text(folder / f"{table}.csv", render_csv(table, cells))
    write_json(folder / f"{table}.json", {"table": table, "title": TITLES[table],
                                          "cells": cells_json(cells), **(meta or {})})
    return atomic_write_text(folder / f"{table}.md", render_markdown(table, cells, note))

