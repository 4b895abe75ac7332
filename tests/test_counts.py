"""The one kept-count rule, and every selection keeping exactly the count it gives."""
import math
from decimal import Decimal

import jax
import numpy as np
import pytest

from sketchjax import imp, trees
from sketchjax.counts import kept_count
from sketchjax.models.registry import abstract_model


def test_kept_count_is_ceil_of_d_n_on_the_written_decimal():
    assert kept_count(270_896, 0.1) == 27_090
    assert kept_count(20_024_000, 0.1) == 2_002_400
    assert kept_count(10, 0.1) == 1
    assert kept_count(100, 1.0) == 100 and kept_count(100, 0.0) == 0
    assert kept_count(100, 0.995) == 100              # fewer than one weight to prune
    # The reference's float64 int((1 - 0.55) * 43000) = 19349 would keep one weight too many.
    assert int((1 - 0.55) * 43000) == 19349 and kept_count(43000, 0.55) == 23650
    rng = np.random.default_rng(0)
    for _ in range(1000):
        n, d = int(rng.integers(1, 10**8)), float(rng.random())
        assert kept_count(n, d) == math.ceil(Decimal(repr(d)) * n)
        # and, away from float64's rounding at integers, the reference's own formula
        if abs((1.0 - d) * n - round((1.0 - d) * n)) > 1e-6:
            assert kept_count(n, d) == n - int((1.0 - d) * n)


@pytest.mark.parametrize("n,d", [(-1, 0.5), (10, 1.5), (10, float("nan")), (2.5, 0.1)])
def test_kept_count_rejects_nonsense(n, d):
    with pytest.raises(ValueError):
        kept_count(n, d)


def test_every_imp_level_of_vgg19_keeps_exactly_its_count():
    # IMP's levels over VGG-19's pruned layers (classifier ignored, as OpenLTH): the earlier
    # code passed each count through a float32 density, and 9 of the levels kept one weight
    # too many or too few.
    # Magnitudes are distinct (ties at the threshold are pruned, by the reference's rule, and
    # would make any count inexact): shuffled consecutive float32 bit patterns above 1.0.
    _, shapes, _, _ = abstract_model("vgg19_bn", "cifar10")
    pruned = [p for p in trees.prunable_paths(shapes) if p != "Dense_0/kernel"]
    flat = trees.flatten(shapes)
    sizes = [int(np.prod(flat[p].shape)) for p in pruned]
    total = sum(sizes)
    bits = np.random.default_rng(0).permutation(total).astype(np.uint32) + np.uint32(0x3F800000)
    parts = np.split(bits.view(np.float32), np.cumsum(sizes)[:-1])
    trained = {p: v.reshape(flat[p].shape) for p, v in zip(pruned, parts)}
    counts = [c for (c,) in imp.level_counts([total], [0.2], 0.02, exact_final=False)]
    assert len(counts) == 18 and counts[-1] <= kept_count(total, 0.02)
    mask = {p: np.ones_like(v) for p, v in trained.items()}
    for level, keep in enumerate(counts, start=1):
        new = imp._prune_level(trained, mask, pruned, keep, "threshold", jax.random.key(level))
        assert sum(int(np.count_nonzero(v)) for v in new.values()) == keep, level
        assert all(not np.any((new[p] != 0) & (mask[p] == 0)) for p in pruned)   # nested
        mask = new


def test_layerwise_imp_level_keeps_exactly_its_count():
    values = np.random.default_rng(1).permutation(13000).astype(np.float32) + 1
    trained = {"a/kernel": values[:12000].reshape(300, 40),
               "b/kernel": values[12000:].reshape(100, 10)}
    mask = {p: np.ones_like(v) for p, v in trained.items()}
    new = imp._prune_level(trained, mask, list(trained), 4321, "layerwise_sample",
                           jax.random.key(0))
    assert sum(int(v.sum()) for v in new.values()) == 4321
