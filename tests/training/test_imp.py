"""IMP: level densities 0.8^L, nesting, magnitude ranking, rewinding to theta_K, resuming, CLI."""
import dataclasses
import json
import math

import jax
import numpy as np
import pytest

from sketchjax.cli import prune as prune_cli
from sketchjax import imp, trees
from sketchjax import training as T
from sketchjax.counts import kept_count
from sketchjax.errors import SketchjaxError
from sketchjax.masks import load_mask
from sketchjax.methods import IMP
from sketchjax.variables import load_variables

MODEL, DATASET = "lenet_300_100", "mnist1d"   # 31 steps per epoch at batch 128
K = 5


def small_config(**changes):
    base = dict(density=0.6, epochs=1, rewind_iters=K, output_layer="ignore",
                train=T.preset("lenet", batch_size=128))
    base.update(changes)
    return IMP(**base)


class SpyTrain:
    """Wraps training.train as imp calls it; records each call's plan, stop step and trained
    params."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = imp.train

        def spy(plan, **kwargs):
            result = real(plan, **kwargs)
            self.calls.append((plan, kwargs.get("stop_step"),
                               jax.device_get(result.state.params)))
            return result
        monkeypatch.setattr(imp, "train", spy)


def test_level_counts_follow_0p8_to_the_L_and_the_documented_level_numbers():
    counts = [c for (c,) in imp.level_counts([266200], [0.2], 0.1, exact_final=False)]
    kept = 266200
    for c in counts:  # OpenLTH: prune ceil(0.2 * remaining)
        assert c == kept - math.ceil(0.2 * kept)
        kept = c
    np.testing.assert_allclose([c / 266200 for c in counts],
                               [0.8 ** L for L in range(1, len(counts) + 1)], atol=1e-4)
    # docs/methods.md (IMP), on VGG-19: 10% needs 11 levels (8.6%), 5% 14, 2% 18, 1.2% 20.
    n = 20024000
    assert [len(imp.level_counts([n], [0.2], d, False)) for d in (0.1, 0.05, 0.02, 0.012)] \
        == [11, 14, 18, 20]
    assert abs(imp.level_counts([n], [0.2], 0.1, False)[-1][0] / n - 0.086) < 1e-3
    exact = imp.level_counts([n], [0.2], 0.1, True)
    assert len(exact) == 11 and exact[-1] == (round(0.1 * n),)


def test_level_counts_with_per_group_rates_lenet():
    # The lottery-ticket LeNet: hidden layers 20% per level, output layer 10%; 20 levels give
    # 1.19% overall (the lottery-ticket paper's Fig. 2 protocol).
    hidden, output = 784 * 300 + 300 * 100, 100 * 10
    levels = imp.level_counts([hidden, output], [0.2, 0.1], 0.012, False)
    h, o = hidden, output
    for kh, ko in levels:
        h, o = h - math.ceil(0.2 * h), o - math.ceil(0.1 * o)
        assert (kh, ko) == (h, o)
    assert len(levels) == 20 and abs(levels[-1][0] / hidden - 0.8 ** 20) < 1e-4
    assert abs(levels[-1][1] / output - 0.9 ** 20) < 1e-2       # ceil on 1,000 weights
    assert round(100 * sum(levels[-1]) / (hidden + output), 2) == 1.19
    exact = imp.level_counts([hidden, output], [0.2, 0.1], 0.02, True)
    assert sum(exact[-1]) == round(0.02 * (hidden + output))


def test_defaults_come_from_the_model_registry():
    vgg = IMP().validated("vgg19_bn", "cifar10")
    assert (vgg.rewind_iters, vgg.output_layer, vgg.train.optimizer, vgg.epochs) == (
        1000, "ignore", "sgd", 160)
    assert IMP().validated("resnet20", "cifar100").rewind_iters == 6000
    resnet = IMP().validated("resnet20", "cifar10")
    assert (resnet.rewind_iters, resnet.output_layer) == (2000, "prune")
    lenet = IMP(epochs=3).validated("lenet_300_100", "mnist")
    assert (lenet.rewind_iters, lenet.output_layer, lenet.train.optimizer, lenet.train.epochs) \
        == (0, "ignore", "adam", 3)


def test_imp_levels_nested_magnitude_pruned_rewound_and_resumable(tmp_path, monkeypatch):
    spy = SpyTrain(monkeypatch)
    workdir = tmp_path / "imp"
    result = imp.run_imp(MODEL, DATASET, small_config(), workdir, progress=False,
                         log=lambda s: None)
    # Pretraining to K, then levels 1..3 (0.8, 0.64, 0.512 <= 0.6).
    assert len(spy.calls) == 4 and len(result.levels) == 3
    assert spy.calls[0][1] == K and spy.calls[0][0].start_step == 0

    # The rewind point is the dense run's K-step weights, and every level starts from it.
    rewind = load_variables(workdir / "rewind.npz")
    dense_k = T.train(T.plan_run(MODEL, DATASET, small_config().validated(MODEL, DATASET).train
                                 .replace(checkpoint_every=0), seeds=(0,), init_seed=0),
                      progress=False, stop_step=K)
    assert max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in
               zip(jax.tree.leaves(rewind["params"]),
                   jax.tree.leaves(jax.device_get(dense_k.state.params)))) == 0.0
    for plan, stop_step, _ in spy.calls[1:]:
        assert plan.start_step == K and stop_step is None
        assert plan.variables_of(0) is not None
        for a, b in zip(jax.tree.leaves(plan.variables_of(0)["params"]),
                        jax.tree.leaves(rewind["params"])):
            np.testing.assert_array_equal(a, b)

    prunable = trees.prunable_paths(rewind["params"])
    pruned_layers = [p for p in prunable if p != "Dense_2/kernel"]
    total = sum(np.size(trees.flatten(rewind["params"])[p]) for p in pruned_layers)
    expected = [c for (c,) in imp.level_counts([total], [0.2], 0.6, False)]
    previous = {p: np.ones_like(trees.flatten(rewind["params"])[p]) for p in prunable}
    for level, (_, _, trained) in enumerate(spy.calls[1:], start=1):
        mask = load_mask(workdir / f"level_{level:02d}.npz")
        arrays = mask.arrays
        kept = sum(int(np.count_nonzero(arrays[p])) for p in pruned_layers)
        assert kept == expected[level - 1]                                  # 0.8^L
        assert abs(kept / total - 0.8 ** level) < 1e-3
        assert np.all(arrays["Dense_2/kernel"] == 1)                        # output ignored
        for p in prunable:                                                  # nested
            assert not np.any((arrays[p] != 0) & (previous[p] == 0))
        # Global magnitude: every survivor outranks every weight pruned at this level.
        flat = trees.flatten(trained)
        mags_kept = np.concatenate([np.abs(flat[p])[arrays[p] != 0] for p in pruned_layers])
        mags_cut = np.concatenate([np.abs(flat[p])[(arrays[p] == 0) & (previous[p] != 0)]
                                   for p in pruned_layers])
        assert mags_kept.min() >= mags_cut.max()
        # The level was trained with the previous mask (pruned weights at 0).
        for p in pruned_layers:
            assert np.all(flat[p][previous[p] == 0] == 0)
        meta = mask.metadata
        assert meta["method"] == "imp" and meta["imp"]["level"] == level
        assert meta["rewind"]["step"] == K and meta["model"] == MODEL and meta["seed"] == 0
        previous = {p: arrays[p] for p in prunable}

    final = result.mask
    assert final.metadata["imp"]["final"] and final.metadata["imp"]["level"] == 3
    np.testing.assert_array_equal(load_mask(workdir / "level_03.npz").arrays["Dense_0/kernel"],
                                  final.arrays["Dense_0/kernel"])

    # Resuming: every level file exists, so nothing is trained again.
    def fail(*a, **k):
        raise AssertionError("a finished level was recomputed")
    monkeypatch.setattr(imp, "train", fail)
    again = imp.run_imp(MODEL, DATASET, small_config(), workdir, progress=False,
                        log=lambda s: None)
    assert len(again.levels) == 3
    # A different search in the same folder is refused.
    with pytest.raises(SketchjaxError, match="other settings"):
        imp.run_imp(MODEL, DATASET, small_config(rate=0.3), workdir, progress=False,
                    log=lambda s: None)


def test_imp_random_data_layerwise_sample_exact_final_prunes_output(tmp_path):
    config = small_config(density=0.55, data="normal", selection="layerwise_sample",
                          exact_final=True, output_layer="prune", rewind_iters=0)
    result = imp.run_imp(MODEL, DATASET, config, tmp_path / "w", progress=False,
                         log=lambda s: None)
    total = 43000  # every prunable kernel of lenet on mnist1d (40x300 + 300x100 + 100x10)
    assert [lv["pruned_kept"] for lv in result.levels] == [34400, 27520, round(0.55 * total)]
    assert result.mask.metadata["realised_density"] == pytest.approx(0.55, abs=1e-6)
    assert result.mask.metadata["imp"]["data"] == "normal"
    assert result.mask.metadata["selection"] == "layerwise_sample"
    assert np.count_nonzero(result.mask.arrays["Dense_2/kernel"]) < 1000   # output pruned too
    # Found on random data: the ticket trains from theta_0 at step 0 (no rewind point named).
    assert result.mask.metadata["rewind"] is None
    assert result.mask.metadata["ticket_start"] == "init"
    previous = None
    for path in [imp.level_path(tmp_path / "w", 1), imp.level_path(tmp_path / "w", 2),
                 imp.level_path(tmp_path / "w", 3, round(0.55 * total))]:
        arrays = load_mask(path).arrays
        if previous is not None:
            for p in arrays:
                assert not np.any((arrays[p] != 0) & (previous[p] == 0))
        previous = arrays
    assert not imp.level_path(tmp_path / "w", 3).exists()   # the plain level 3 was not made


def test_exact_final_searches_share_every_level_but_their_last(tmp_path):
    workdir = tmp_path / "w"
    config = small_config(density=0.7, exact_final=True, output_layer="prune", rewind_iters=0)
    first = imp.run_imp(MODEL, DATASET, config, workdir, progress=False, log=lambda s: None)
    assert [lv["pruned_kept"] for lv in first.levels] == [34400, kept_count(43000, 0.7)]
    deeper = imp.run_imp(MODEL, DATASET, dataclasses.replace(config, density=0.55), workdir,
                         progress=False, log=lambda s: None)
    assert [lv["pruned_kept"] for lv in deeper.levels] == [34400, 27520, kept_count(43000, 0.55)]
    # Level 1 was trained once and loaded by the deeper search; each target has its own last
    # level, and both land exactly on kept_count(N, d).
    assert sorted(p.name for p in workdir.glob("level_*.npz")) == [
        "level_01.npz", "level_02.npz", f"level_02_kept{kept_count(43000, 0.7)}.npz",
        f"level_03_kept{kept_count(43000, 0.55)}.npz"]
    assert first.mask.metadata["kept"] == kept_count(43000, 0.7)
    assert deeper.mask.metadata["kept"] == kept_count(43000, 0.55)


def test_imp_cli_then_train_starts_from_the_rewind_point(tmp_path, capsys):
    out = tmp_path / "masks" / "lenet_imp.npz"
    assert prune_cli.main(["--method", "imp", "--model", MODEL, "--dataset", DATASET,
                           "--density", "0.7", "--seed", "1", "--out", str(out),
                           "--imp-epochs", "1", "--rewind-iters", "7", "--quiet"]) == 0
    assert out.exists()
    searches = [p for p in (tmp_path / "masks").iterdir() if p.is_dir()]
    assert [p.name[:45] for p in searches] == ["lenet_300_100_mnist1d_imp_real_threshold_seed1"[:45]]
    assert (searches[0] / "level_02.npz").exists()
    meta = load_mask(out).metadata
    assert meta["imp"]["output_layer"] == "ignore" and meta["seed"] == 1
    assert meta["rewind"]["step"] == 7 and meta["config"]["config"]["rate"] == 0.2

    from sketchjax.cli import train as train_cli
    run_dir = tmp_path / "run"
    assert train_cli.main(["--mask", str(out), "--epochs", "1", "--batch-size", "128",
                           "--out", str(run_dir), "--quiet"]) == 0
    record = json.loads((run_dir / "seed_1" / "record.json").read_text())
    assert json.loads((run_dir / "config.json").read_text())["rewind_step"] == 7
    assert record["start_step"] == 7 and record["method"] == "imp"
    assert record["steps"] == 31 and record["pruned_weights_nonzero"] == 0
    capsys.readouterr()
    assert prune_cli.main(["--method", "imp", "--model", MODEL, "--dataset", DATASET,
                           "--data", "sparse", "--out", str(tmp_path / "x.npz")]) == 2
    assert "unknown imp data 'sparse'" in capsys.readouterr().err


def test_searches_for_several_densities_share_their_levels(tmp_path, monkeypatch):
    from sketchjax.mask_store import MaskSpec, make_mask
    calls = []
    real = imp.train
    monkeypatch.setattr(imp, "train", lambda plan, **kw: calls.append(plan) or real(plan, **kw))
    config = IMP(density=0.7, epochs=1, train=T.preset("lenet", batch_size=128))
    first = make_mask(MaskSpec(MODEL, DATASET, config), masks_dir=tmp_path, progress=False,
                      log=lambda s: None)
    assert len(calls) == 2 and first.mask.metadata["imp"]["level"] == 2      # 0.8, 0.64
    deeper = make_mask(MaskSpec(MODEL, DATASET, dataclasses.replace(config, density=0.45)),
                       masks_dir=tmp_path, progress=False, log=lambda s: None)
    assert len(calls) == 2 + 2 and deeper.mask.metadata["imp"]["level"] == 4  # 0.512, 0.41
    assert deeper.mask.metadata["density"] == 0.45 and deeper.mask.metadata["imp"]["final"]
    assert first.path != deeper.path
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1             # one search
    # The shallower mask is the deeper search's level 2.
    level2 = load_mask(next(p for p in tmp_path.iterdir() if p.is_dir()) / "level_02.npz")
    for p, a in first.mask.arrays.items():
        np.testing.assert_array_equal(level2.arrays[p], a)


def test_exact_final_never_keeps_more_of_a_group_than_it_had():
    rng = np.random.default_rng(0)
    for _ in range(500):
        sizes = [int(rng.integers(50, 5000)), int(rng.integers(10, 500))]
        target = float(rng.uniform(0.01, 0.9))
        levels = imp.level_counts(sizes, [0.2, 0.1], target, exact_final=True)
        previous = tuple(sizes)
        for counts in levels:
            assert all(c <= p for c, p in zip(counts, previous))
            previous = counts
        assert sum(levels[-1]) == kept_count(sum(sizes), target)
    # The case the first group alone could not absorb: (705, 144) at its old rule kept 236 of
    # the 230 weights group 0 still had.
    for counts in imp.level_counts([705, 144], [0.2, 0.1], 0.37, True):
        assert counts[0] <= 705


def test_shared_levels_leave_out_only_an_exact_last_level():
    exact = small_config(density=0.55, exact_final=True, output_layer="prune").validated(
        MODEL, DATASET)
    assert imp.shared_levels(MODEL, DATASET, exact) == (2, 3)
    plain = dataclasses.replace(exact, exact_final=False)
    assert imp.shared_levels(MODEL, DATASET, plain) == (3, 3)
    assert [p.name for p in imp.level_files("w", MODEL, DATASET, exact)] == [
        "level_01.npz", "level_02.npz", f"level_03_kept{kept_count(43000, 0.55)}.npz"]
