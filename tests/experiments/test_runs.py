"""Presets and runs: pinned names, shared runs, groups of seeds, shards."""
import dataclasses

import numpy as np
import pytest

from sketchjax import trees

from sketchjax.experiments.presets import SCALE_PRESETS, TABLE_COLUMNS, TABLES
from sketchjax.experiments.runner import Shard
from sketchjax.experiments.runs import (groups, read_record, record_path, run_seconds,
                                        table_runs, unique)


def test_a_run_is_named_by_its_config_and_the_name_is_pinned():
    # A change of this name means every finished run is redone: make it on purpose. (It
    # changed once, when each method got its own options.)
    run = table_runs("table1", SCALE_PRESETS["smoke"])[1]
    assert run.label() == "table1 | SynFlow | lenet_300_100/mnist1d | d=0.1 | seed 0"
    assert run.name() == "lenet_300_100_mnist1d_synflow_threshold_d0.1_seed0_34b316ae"
    other = dataclasses.replace(run, recipe=run.recipe.replace(epochs=2))
    assert other.name() != run.name()


@pytest.mark.parametrize("scale", sorted(SCALE_PRESETS))
def test_every_column_of_every_scale_makes_a_valid_spec(scale):
    preset = SCALE_PRESETS[scale]
    for table in TABLES:
        if table not in preset.settings:
            continue
        runs = table_runs(table, preset, seeds=1)
        # IMP columns run at the scale's IMP densities where it has its own.
        n_cells = sum(1 + sum(len(preset.imp_densities or preset.densities)
                              if c.method == "imp" else len(preset.densities)
                              for c in TABLE_COLUMNS[table])
                      for _ in preset.settings[table])
        assert len(runs) == n_cells
        assert len({r.name() for r in runs}) == len(runs)


def test_tables_share_identical_runs_and_seeds_group():
    scale = SCALE_PRESETS["cpu"]
    t1, t4 = table_runs("table1", scale), table_runs("table4", scale)
    shared = {r.name() for r in t1} & {r.name() for r in t4}
    # The dense row and "SNIP + sparse data + rand. mask" at every density, every seed.
    assert len(shared) == scale.seeds * (1 + len(scale.densities))
    t3 = table_runs("table3", scale)
    assert {r.name() for r in t3} <= {r.name() for r in t1}       # Table 3 = Table 1's SynFlow
    everything = unique(t1 + t4 + t3)
    assert len(everything) == len(t1) + len(t4) - len(shared)
    grouped = groups(t1)
    assert all(len(g) == scale.seeds for g in grouped)
    assert all(len({r.seed for r in g}) == scale.seeds for g in grouped)


def test_shards_are_disjoint_complete_and_keep_an_imp_search_together():
    runs = table_runs("table2", SCALE_PRESETS["cpu"])
    shards = [Shard(i, 3) for i in range(3)]
    owners = [[s.owns(g) for s in shards] for g in groups(runs)]
    assert all(sum(o) == 1 for o in owners)
    imp = [g for g in groups(runs) if g[0].method == "imp"]
    by_search = {}
    for g in imp:
        by_search.setdefault((g[0].column, g[0].seed), set()).add(
            next(i for i, s in enumerate(shards) if s.owns(g)))
    assert all(len(v) == 1 for v in by_search.values())
    with pytest.raises(Exception, match="i/n"):
        Shard.parse("1-3")


def test_imp_tickets_train_from_each_seeds_rewind_point(tmp_path):
    # IMP's lottery tickets start at step K from theta_K, each seed its own (as train.py does
    # for one mask); other columns start from the initialisers at step 0.
    from sketchjax.mask_store import make_mask
    from sketchjax.variables import load_variables

    from sketchjax.experiments.runner import group_plan
    scale = dataclasses.replace(SCALE_PRESETS["smoke"],
                                imp={**SCALE_PRESETS["smoke"].imp, "rewind_iters": 3})
    runs = table_runs("table2", scale, seeds=2)
    # "IMP + rand. data": its mask was found on noise; the ticket starts from theta_0 at step 0,
    # as the authors transfer masks, and that start is part of the run's identity.
    for column, step in (("IMP (supervised)", 3), ("Magnitude", 0), ("IMP + rand. data", 0)):
        group = [r for r in runs if r.column == column]
        made = [make_mask(r.mask, masks_dir=tmp_path / "masks", progress=False,
                          log=lambda s: None) for r in group]
        masks = [m.mask for m in made]
        plan = group_plan(group, made, tmp_path)
        assert plan.start_step == step
        assert group[0].identity().get("start") == {"IMP (supervised)": "rewind",
                                                    "IMP + rand. data": "init"}.get(column)
        if step == 0:
            assert plan.variables_of(0) is None
            continue
        for i, mask in enumerate(masks):
            theta_k = load_variables(made[i].path.parent / mask.metadata["rewind"]["file"])[
                "params"]
            for path, value in trees.flatten(theta_k).items():
                np.testing.assert_array_equal(trees.flatten(plan.variables_of(i)["params"])[path],
                                              value)
        first = trees.flatten(plan.variables_of(0)["params"])
        second = trees.flatten(plan.variables_of(1)["params"])
        assert any(not np.array_equal(first[p], second[p]) for p in first)


def test_imp_columns_land_on_the_same_kept_count_as_every_other_column():
    from sketchjax.counts import kept_count
    from sketchjax.imp import search_levels
    scale = SCALE_PRESETS["cpu"]
    for run in table_runs("table2", scale, seeds=1):
        if run.method != "imp":
            continue
        config = run.mask.config
        assert (config.output_layer, config.exact_final) == ("prune", True)
        levels = search_levels(run.model, run.dataset, config)
        assert sum(levels[-1]) == kept_count(43_000, run.density)     # every prunable kernel


def test_a_record_of_the_earlier_flat_layout_is_read_in_the_run_records(tmp_path):
    # A sweep started by an earlier version: its records count as done and the tables, the
    # estimate and the timings read them.
    from sketchjax.experiments.report import collect
    from sketchjax.records import write_json
    run = table_runs("table1", SCALE_PRESETS["smoke"])[1]
    old = {"name": run.name(), "identity": run.identity(), "table": run.table,
           "column": run.column, "model": run.model, "dataset": run.dataset,
           "density": run.density, "seed": run.seed, "test_accuracy": 0.5,
           "best_test_accuracy": 0.55, "final_train_accuracy": 0.6,
           "realised_density": 0.1, "realised_density_pruned_layers": 0.1,
           "mask_file": "masks/x.npz", "mask_computed": True, "epochs": 1, "steps": 66,
           "steps_per_epoch": 66, "group_seeds": 2, "train_seconds": 3.0,
           "prune_seconds": 1.0, "group_seconds": 8.0, "device_kind": "cpu", "history": [],
           "versions": {}}
    write_json(record_path(run, tmp_path), old)
    record = read_record(run, tmp_path)
    assert record["method"] == "synflow" and record["experiment"]["table"] == "table1"
    assert run_seconds(record) == 4.0
    finished = collect([run], tmp_path)
    assert finished.accuracy == {(run.model, run.dataset, run.density, run.column): {0: 50.0}}
