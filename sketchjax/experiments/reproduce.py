"""`reproduce`: the whole job behind `sketchjax-experiments` (the CLI only parses flags).

Checks the request before any work (targets, seeds, the output folder, the data sets on disk at
paper scale), plans the runs of the requested tables (and the masks the figures need), runs
what is missing, draws the figures, and writes DIR/<scale>/<table>.md/.csv/.json, the figures
and claims.md.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from sketchjax.atomic import check_writable
from sketchjax.errors import SketchjaxError, check_int
from sketchjax.records import read_json

from sketchjax.experiments import claims as claims_mod
from sketchjax.experiments import report
from sketchjax.experiments.estimate import estimate, human, load_throughput, save_throughput
from sketchjax.experiments.figures import FIGURE_FUNCTIONS, fig2_seconds
from sketchjax.experiments.presets import FIGURES, SCALE_PRESETS, SCALES, TABLES, TARGETS, Scale
from sketchjax.experiments.runner import Shard, check_data_on_disk, pending_groups, run_sweep
from sketchjax.experiments.runs import RunSpec, groups, read_record, table_runs, unique


@dataclasses.dataclass(frozen=True)
class Request:
    """What the user asked for, validated."""
    targets: tuple[str, ...]
    scale: Scale
    seeds: int
    out: Path
    only: Optional[str] = None
    shard: Shard = Shard()
    data_dir: Optional[str] = None


def make_request(target: str, scale: str, *, seeds: Optional[int] = None, out,
                 only: Optional[str] = None, shard: Optional[str] = None,
                 data_dir=None) -> Request:
    """Validate a request (one clear SketchjaxError on anything wrong; nothing is written)."""
    if target != "all" and target not in TARGETS:
        raise SketchjaxError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}, all")
    if scale not in SCALES:
        raise SketchjaxError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    preset = SCALE_PRESETS[scale]
    if seeds is not None:
        check_int(seeds, "--seeds", 1)
    targets = TARGETS if target == "all" else (target,)
    available = [t for t in targets if t in preset.settings or t in preset.fig_settings]
    if not available:
        raise SketchjaxError(f"{target} is not part of scale {scale!r} (it has: "
                             f"{', '.join(t for t in TARGETS if t in preset.settings or t in preset.fig_settings)})")
    request = Request(tuple(available), preset, seeds or preset.seeds,
                      check_writable(out, folder=True), only,
                      Shard.parse(shard) if shard else Shard(), data_dir)
    tables = [t for t in request.targets if t in TABLES]
    if only and tables and not planned_runs(request):
        example = table_runs(tables[0], preset, 1)[-1].label()
        raise SketchjaxError(f"--only {only!r} matches no run of {', '.join(tables)} at scale "
                             f"{scale!r}; it is looked for in labels such as {example!r}")
    return request


def planned_runs(request: Request) -> list[RunSpec]:
    """The runs of the requested tables (shared runs once), filtered by --only."""
    runs = unique(r for t in request.targets if t in TABLES
                  for r in table_runs(t, request.scale, request.seeds))
    if request.only:
        runs = [r for r in runs if request.only in r.label()]
    return runs


def _check_data(request: Request, runs: Sequence[RunSpec]) -> None:
    if request.scale.name == "paper":
        check_data_on_disk(runs, request.data_dir)
        for fig in request.targets:
            if fig in FIGURES and fig != "fig1b":
                model, dataset, _ = request.scale.fig_settings[fig]
                from sketchjax.data.pipelines import num_examples
                num_examples(dataset, "train", request.data_dir)


def dry_run(request: Request, log: Callable[[str], None] = print) -> dict:
    """List the runs, how many are done, and the estimated time of the rest: per table (a run
    two tables share counts in the first), for Fig. 2 (its IMP search and shuffled masks; Figs.
    1a-1b take seconds), and in all."""
    runs = planned_runs(request)
    records = {r.name(): read_record(r, request.out) for r in runs}
    done = {name for name, record in records.items() if record is not None}
    first_table = {r.name(): r.table for r in runs}
    pending = pending_groups(runs, request.out, request.shard)
    result = estimate(pending, [r for r in records.values() if r is not None], request.out)
    table_seconds = {}
    for table in (t for t in request.targets if t in TABLES):
        mine = [r for r in table_runs(table, request.scale, request.seeds)
                if not request.only or request.only in r.label()]
        shared = sum(first_table.get(r.name()) != table for r in mine)
        seconds = table_seconds[table] = sum(s for g, s in zip(pending, result["per_group"])
                                             if first_table[g[0].name()] == table)
        log(f"{table}: {len(mine)} runs ({sum(r.name() in done for r in mine)} done, {shared} "
            f"shared with an earlier table), {len(groups(mine))} groups of stacked seeds; "
            f"estimated {human(seconds)}")
        for r in mine:
            status = "done" if r.name() in done else "todo"
            if first_table.get(r.name()) != table:
                status += f", = {first_table[r.name()]}"
            log(f"  [{status}] {r.label()}  ->  runs/{r.name()}")
    figures = [t for t in request.targets if t in FIGURES]
    figure_seconds = 0.0
    if figures:
        if "fig2" in figures and request.shard.index == 0:
            cache = load_throughput(request.out)
            figure_seconds = fig2_seconds(request.scale, request.out, cache)
            save_throughput(request.out, cache)
        log(f"figures: {', '.join(figures)} (made after the tables; they reuse the tables' "
            f"masks); estimated {human(figure_seconds)}")
    total = result["seconds"] + figure_seconds
    log(f"{len(runs)} runs, {len(done)} done, {sum(len(g) for g in pending)} to do: "
        f"{result['training_steps']:,} training steps; estimated {human(total)} on this machine "
        f"({result['device']}; runs from finished runs {human(result['by']['records'])}, from "
        f"measured step times {human(result['by']['measured'])}; figures "
        f"{human(figure_seconds)}; pruning not included)")
    return {"runs": len(runs), "done": len(done), **result, "tables": table_seconds,
            "figure_seconds": figure_seconds, "seconds": total}


def _note(scale: Scale, seeds: int) -> str:
    recipes = "; ".join(f"{model}: preset {name} {dict(changes)}"
                        for model, (name, changes) in scale.recipe.items())
    return (f"Scale `{scale.name}`: {seeds} seed(s) per cell; recipe {recipes}; SynFlow "
            f"{scale.iterative_rounds} rounds; prune batch {scale.prune_batch_size}; IMP "
            f"{dict(scale.imp) or 'the recipe per level'}.")


def write_reports(request: Request, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Tables, figures' claims and claims.md from what is on disk (missing cells: '-')."""
    folder = request.out / request.scale.name
    written = {}
    cells = {}
    for table in TABLES:
        settings = request.scale.settings.get(table)
        if not settings:
            continue
        runs = table_runs(table, request.scale, request.seeds)
        cells[table] = report.table_cells(table, settings, request.scale.densities,
                                          report.collect(runs, request.out),
                                          with_paper=request.scale.name == "paper")
        if table in request.targets:
            seconds = report.table_seconds(runs, request.out)
            written[table] = report.write_table(table, cells[table], folder,
                                                _note(request.scale, request.seeds),
                                                {"run_seconds": round(seconds, 1)})
            log(f"{table}: its runs took {human(seconds)} (measured; shared runs included)")
    figures = {f: read_json(folder / f"{f}.json") if (folder / f"{f}.json").exists() else None
               for f in FIGURES}
    verdicts = (claims_mod.table_claims(claims_mod.columns_of(cells))
                + claims_mod.figure_claims(figures))
    written["claims"] = claims_mod.write_claims(verdicts, request.scale.name,
                                                folder, _note(request.scale, request.seeds))
    return written


def reproduce(request: Request, *, progress: bool = True,
              log: Callable[[str], None] = print, run_fn=None) -> dict[str, Path]:
    """Run what is missing, draw the figures, write the reports; returns the files written."""
    runs = planned_runs(request)
    _check_data(request, runs)
    start = time.perf_counter()
    kwargs = {"run_fn": run_fn} if run_fn is not None else {}
    run_sweep(runs, request.out, data_dir=request.data_dir, shard=request.shard,
              progress=progress, log=log, **kwargs)
    folder = request.out / request.scale.name
    if request.shard.index == 0:
        for fig in (t for t in request.targets if t in FIGURES):
            begin = time.perf_counter()
            kwargs = {"fig1a": {"seeds": request.seeds},
                      "fig1b": {"seeds": min(request.seeds,
                                             request.scale.fig1b_seeds or request.seeds)},
                      }.get(fig, {})
            FIGURE_FUNCTIONS[fig](request.scale, request.out, folder,
                                  data_dir=request.data_dir, **kwargs)
            log(f"{fig}: {folder / (fig + '.png')} ({time.perf_counter() - begin:.0f} s)")
    written = write_reports(request, log)
    log(f"wrote {', '.join(str(p) for p in written.values())} "
        f"({human(time.perf_counter() - start)})")
    return written
