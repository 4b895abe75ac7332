"""Tables from run records: laid out like the paper's, as markdown, CSV and JSON.

Rows are (model, dataset) blocks of one row per density, with a dense row on top; columns are
the table's. A cell is the test accuracy in %, mean +- sample std over seeds (n). A randomized
column also shows its difference to its deterministic twin, Δ, marked * where it exceeds two
standard errors (sqrt(se_a^2 + se_b^2), se = std / sqrt(n)). At paper scale the paper's number
stands beside ours.
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

from experiments.paper_numbers import PAPER
from experiments.presets import DENSE, TABLE_COLUMNS, TITLES
from experiments.runs import RunSpec, read_record

MODEL_TITLES = {"vgg19_bn": "VGG-19", "vgg19": "VGG-19 (no BN)", "resnet20": "ResNet-20",
                "resnet18": "ResNet-18", "wide_resnet18": "WideResNet-18",
                "wide_resnet20": "WRN-20-32", "lenet_300_100": "LeNet-300-100"}
DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                  "tiny_imagenet": "Tiny-ImageNet", "mnist1d": "MNIST-1D",
                  "mnist1d_large": "MNIST-1D (20k)", "digits": "digits 8x8",
                  "fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}


@dataclasses.dataclass(frozen=True)
class Stats:
    """Accuracies in %: mean, sample std (0 for n = 1), n."""
    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Optional["Stats"]:
        if not values:
            return None
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        return cls(mean, std, n)

    @property
    def se(self) -> float:
        """Standard error of the mean; nan for one value (no spread to estimate)."""
        return self.std / math.sqrt(self.n) if self.n > 1 else math.nan


def difference(a: Stats, b: Stats) -> tuple[float, float]:
    """(mean a - mean b, its standard error; nan when a side has one value)."""
    return a.mean - b.mean, math.sqrt(a.se ** 2 + b.se ** 2)


Key = tuple[str, str, float, str]   # (model, dataset, density, column)


def collect(runs: Sequence[RunSpec], out) -> dict[Key, list[float]]:
    """Test accuracies in % of the finished runs, by cell (the dense row's density is 1.0)."""
    values: dict[Key, list[float]] = {}
    for run in runs:
        record = read_record(run, out)
        if record is not None and record["test_accuracy"] is not None:
            key = (run.model, run.dataset, run.density, run.column)
            values.setdefault(key, []).append(100.0 * record["test_accuracy"])
    return values


def run_seconds(runs: Sequence[RunSpec], out) -> float:
    """Measured wall time of the finished runs (a group's time shared among its seeds):
    what the table costs on its own, shared runs included."""
    total = 0.0
    for run in runs:
        record = read_record(run, out)
        if record is not None:
            total += record["group_seconds"] / record["group_seeds"]
    return total


def table_cells(table: str, settings: Sequence[tuple[str, str]], densities: Sequence[float],
                values: Mapping[Key, Sequence[float]], with_paper: bool) -> list[dict[str, Any]]:
    """One dict per cell: stats, the twin difference, the paper's number."""
    columns = {c.name: c for c in TABLE_COLUMNS[table]}
    cells = []
    for model, dataset in settings:
        for density, column in [(1.0, DENSE)] + [(d, c) for d in densities
                                                  for c in TABLE_COLUMNS[table]]:
            stats = Stats.of(values.get((model, dataset, density, column.name), []))
            cell: dict[str, Any] = {"model": model, "dataset": dataset, "density": density,
                                    "column": column.name, "stats": stats, "twin": column.twin,
                                    "diff": None, "diff_se": None, "significant": None,
                                    "paper": None}
            twin = columns.get(column.twin) if column.twin else None
            twin_stats = Stats.of(values.get((model, dataset, density, twin.name), [])) \
                if twin else None
            if stats is not None and twin_stats is not None:
                diff, se = difference(stats, twin_stats)
                cell.update(diff=diff, diff_se=None if math.isnan(se) else se,
                            significant=None if math.isnan(se) else abs(diff) > 2 * se)
            if with_paper:
                cell["paper"] = PAPER.get((table, model, dataset, density, column.name))
            cells.append(cell)
    return cells


def _fmt_stats(stats: Optional[Stats]) -> str:
    return "-" if stats is None else f"{stats.mean:.2f} ± {stats.std:.2f} ({stats.n})"


def _fmt_cell(cell: Mapping[str, Any]) -> str:
    text = _fmt_stats(cell["stats"])
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
    lines += ["", "Test accuracy in %, mean ± sample std over seeds (n). Δ: difference to the "
              "column's deterministic twin (" + "; ".join(
                  f"{c.name} vs {c.twin}" for c in TABLE_COLUMNS[table] if c.twin)
              + "), * where it exceeds two standard errors (none with one seed). The dense row "
              "is the unpruned network (one value per model)."]
    return "\n".join(lines) + "\n"


def render_csv(table: str, cells: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    fields = ["table", "model", "dataset", "density", "column", "mean", "std", "n", "twin",
              "diff", "diff_se", "significant", "paper_mean", "paper_std"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for cell in cells:
        stats, paper = cell["stats"], cell["paper"]
        writer.writerow({
            "table": table, "model": cell["model"], "dataset": cell["dataset"],
            "density": cell["density"], "column": cell["column"],
            "mean": "" if stats is None else f"{stats.mean:.4f}",
            "std": "" if stats is None else f"{stats.std:.4f}",
            "n": 0 if stats is None else stats.n, "twin": cell["twin"] or "",
            "diff": "" if cell["diff"] is None else f"{cell['diff']:.4f}",
            "diff_se": "" if cell["diff_se"] is None else f"{cell['diff_se']:.4f}",
            "significant": "" if cell["significant"] is None else cell["significant"],
            "paper_mean": "" if paper is None else paper[0],
            "paper_std": "" if paper is None or paper[1] is None else paper[1]})
    return buf.getvalue()


def cells_json(cells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(cell, stats=None if cell["stats"] is None else dataclasses.asdict(cell["stats"]),
                 paper=None if cell["paper"] is None else list(cell["paper"]))
            for cell in cells]


def write_table(table: str, cells: Sequence[Mapping[str, Any]], folder, note: str = "",
                meta: Optional[Mapping[str, Any]] = None) -> Path:
    """<folder>/<table>.md, .csv and .json (atomic; `meta`, e.g. timings, in the JSON only, so
    the same runs always render the same markdown); returns the markdown's path."""
    folder = Path(folder)
    atomic_write_text(folder / f"{table}.csv", render_csv(table, cells))
    write_json(folder / f"{table}.json", {"table": table, "title": TITLES[table],
                                          "cells": cells_json(cells), **(meta or {})})
    return atomic_write_text(folder / f"{table}.md", render_markdown(table, cells, note))

