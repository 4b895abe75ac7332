"""Sparsity distributions: each one's per-layer counts follow its rule exactly (uniform:
kept_count per layer; ERK: the closed form, dense where it saturates, largest-remainder
rounding to the exact total; overrides: their own kept_count), and every selection keeps
inside the budgets when pruning (threshold and layerwise_sample: exactly; Algorithm 1: s_l
draws in layer l)."""
import math

import jax
import numpy as np
import pytest

import sketchjax as sj
from sketchjax import distributions as D
from sketchjax import trees
from sketchjax.counts import kept_count
from sketchjax.errors import SketchjaxError
from sketchjax.models.registry import init_model

SHAPES = {"Conv_0/kernel": (3, 3, 3, 16), "Conv_1/kernel": (3, 3, 16, 32),
          "Dense_0/kernel": (2048, 256), "Dense_1/kernel": (256, 10)}


@pytest.mark.parametrize("density", [0.5, 0.1, 0.02])
def test_uniform_keeps_the_density_in_every_layer(density):
    counts = D.layer_counts("uniform", SHAPES, density)
    assert counts == {p: kept_count(math.prod(s), density) for p, s in SHAPES.items()}


@pytest.mark.parametrize("density", [0.5, 0.1, 0.02])
def test_erk_follows_its_closed_form(density):
    counts = D.layer_counts("erk", SHAPES, density)
    sizes = {p: math.prod(s) for p, s in SHAPES.items()}
    total = kept_count(sum(sizes.values()), density)
    assert sum(counts.values()) == total
    # The oracle, written out: eps over the layers that are not dense, dense where
    # eps * (sum of dims) / (product) reaches 1, solved until no layer saturates.
    dense = set()
    while True:
        rest = [p for p in SHAPES if p not in dense]
        eps = (total - sum(sizes[p] for p in dense)) / sum(sum(SHAPES[p]) for p in rest)
        newly = {p for p in rest if eps * sum(SHAPES[p]) / sizes[p] >= 1}
        if not newly:
            break
        dense |= newly
    for p in SHAPES:
        if p in dense:
            assert counts[p] == sizes[p], p
        else:
            assert abs(counts[p] - eps * sum(SHAPES[p])) < 1, p      # share = eps * sum(dims)
    # Smaller layers are denser (their dims sum is large against their size).
    d = {p: counts[p] / sizes[p] for p in SHAPES}
    assert d["Conv_0/kernel"] >= d["Conv_1/kernel"] >= d["Dense_0/kernel"]


def test_overrides_take_their_own_density_and_the_rest_share_what_remains():
    over = (("Dense_1/*", 0.5),)
    for distribution in ("uniform", "erk"):
        counts = D.layer_counts(distribution, SHAPES, 0.1, over)
        assert counts["Dense_1/kernel"] == kept_count(2560, 0.5)
    erk = D.layer_counts("erk", SHAPES, 0.1, over)
    rest = sum(math.prod(s) for p, s in SHAPES.items() if p != "Dense_1/kernel")
    assert sum(v for p, v in erk.items() if p != "Dense_1/kernel") == kept_count(rest, 0.1)
    with pytest.raises(SketchjaxError, match="matches no prunable layer"):
        D.layer_counts("uniform", SHAPES, 0.1, (("Nothing/*", 0.5),))
    with pytest.raises(SketchjaxError, match="per-layer distribution"):
        D.layer_counts("global", SHAPES, 0.1, over)


@pytest.fixture(scope="module")
def lenet():
    return init_model("lenet_300_100", "mnist1d", jax.random.key(0))


def _kept(mask):
    return {p: int(np.count_nonzero(a)) for p, a in mask.arrays.items()}


@pytest.mark.parametrize("distribution", ["uniform", "erk"])
@pytest.mark.parametrize("selection", ["threshold", "layerwise_sample", "sketch"])
def test_every_selection_keeps_inside_the_budgets(lenet, distribution, selection):
    method = sj.SynFlow(density=0.05, rounds=5, distribution=distribution, selection=selection)
    mask = sj.prune(lenet, method, progress=False)
    shapes = {p: np.shape(v) for p, v in trees.flatten(trees.prunable(lenet.params)).items()}
    budgets = D.layer_counts(distribution, shapes, 0.05)
    assert mask.metadata["layer_budgets"] == budgets
    assert mask.metadata["distribution"] == distribution
    if selection == "sketch":             # Algorithm 1 in each layer: s_l draws, values
        for p, values in mask.arrays.items():            # count / (s_l p_i), so that
            assert 0 < np.count_nonzero(values) <= budgets[p]          # sum p_i m_i = 1
    else:
        assert _kept(mask) == budgets
    assert sj.SynFlow(distribution=distribution).name_parts()[1] == distribution


def test_the_global_distribution_leaves_names_and_records_as_they_were():
    method = sj.SynFlow(density=0.1)
    assert "distribution" not in method.record() and "layer_density" not in method.record()
    assert method.name_parts() == ["synflow", "threshold"]
    with pytest.raises(SketchjaxError, match="per-layer distribution"):
        sj.SynFlow(layer_density=(("Dense_0/*", 0.5),)).validated("lenet_300_100", "mnist1d")


def test_prune_cli_takes_a_distribution(tmp_path):
    from sketchjax.cli import prune as prune_cli
    out = tmp_path / "m.npz"
    assert prune_cli.main(["--method", "magnitude", "--model", "lenet_300_100", "--dataset",
                           "mnist1d", "--distribution", "erk", "--out", str(out),
                           "--quiet"]) == 0
    mask = sj.load_mask(out)
    assert mask.metadata["distribution"] == "erk"
    assert _kept(mask) == mask.metadata["layer_budgets"]


def test_an_override_holds_in_the_pruned_mask_under_every_selection(lenet):
    for selection in ("threshold", "layerwise_sample", "sketch"):
        method = sj.Magnitude(density=0.05, distribution="erk", selection=selection,
                              layer_density=(("Dense_2/*", 0.5),))
        mask = sj.prune(lenet, method, progress=False)
        budgets = mask.metadata["layer_budgets"]
        assert budgets["Dense_2/kernel"] == kept_count(1000, 0.5)
        assert mask.metadata["layer_density"] == [["Dense_2/*", 0.5]]
        kept = _kept(mask)
        assert (kept == budgets) if selection != "sketch" else all(
            0 < kept[p] <= budgets[p] for p in budgets)


def test_an_earlier_round_never_budgets_a_layer_below_the_last(monkeypatch):
    # Largest remainder can give a layer less at a larger total (shares 6:6:2: 11 -> 5, 5, 1;
    # 10 -> 4, 4, 2); the round with the larger density must keep the last round's 2.
    from sketchjax import pruning
    by_density = {0.5: {"a": 5, "b": 5, "c": 1}, 0.25: {"a": 4, "b": 4, "c": 2}}
    monkeypatch.setattr(D, "layer_counts", lambda dist, shapes, d, over: by_density[round(d, 6)])
    method = sj.Magnitude(density=0.25, rounds=2, distribution="erk")
    shapes = {"a": (1,), "b": (1,), "c": (1,)}
    assert pruning.layer_budgets(method, shapes, 0).tolist() == [5, 5, 2]
    assert pruning.layer_budgets(method, shapes, 1).tolist() == [4, 4, 2]
