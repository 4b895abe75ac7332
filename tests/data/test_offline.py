"""Offline sets (mnist1d, digits): arrays, cache, and the common batch API without TensorFlow."""
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sketchjax.data import offline
from sketchjax.data import pipelines as P
from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sketchjax_cache")
    offline.mnist1d_arrays(root)  # generate once for the module
    return root


def test_mnist1d_arrays_shapes_and_metadata_stats(cache_dir):
    a = offline.mnist1d_arrays(cache_dir)
    assert a["x_train"].shape == (4000, 40, 1) and a["x_train"].dtype == np.float32
    assert a["x_test"].shape == (1000, 40, 1) and a["x_test"].dtype == np.float32
    assert a["y_train"].dtype == np.int32 and a["y_test"].dtype == np.int32
    assert set(np.unique(a["y_train"])) == set(range(10))
    info = dataset_info("mnist1d")
    assert abs(a["x_train"].mean() - info.mean[0]) < 1e-3
    assert abs(a["x_train"].std() - info.std[0]) < 1e-3


def test_mnist1d_cache_is_reused_and_written_atomically(cache_dir, monkeypatch):
    files = os.listdir(cache_dir / "mnist1d")
    assert files == ["mnist1d_default_seed42.npz"]  # no temporary files left behind
    first = offline.mnist1d_arrays(cache_dir)

    def boom():
        raise AssertionError("regenerated despite a valid cache")
    monkeypatch.setattr(offline, "_generate_mnist1d", boom)
    again = offline.mnist1d_arrays(cache_dir)
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])


def test_mnist1d_truncated_cache_is_regenerated_leaving_global_rngs_alone(tmp_path, cache_dir):
    path = tmp_path / "mnist1d" / "mnist1d_default_seed42.npz"
    path.parent.mkdir()
    path.write_bytes((cache_dir / "mnist1d" / path.name).read_bytes()[:1000])
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    arrays = offline.mnist1d_arrays(tmp_path)  # regenerates: the package reseeds both RNGs
    assert np.random.random() == expected_np and random.random() == expected_py
    assert arrays["x_train"].shape == (4000, 40, 1)
    with np.load(path) as f:
        assert f["x_test"].shape == (1000, 40, 1)
    assert os.listdir(path.parent) == [path.name]


def test_default_data_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SKETCHJAX_DATA", os.fspath(tmp_path))
    assert offline.default_data_dir() == tmp_path
    monkeypatch.delenv("SKETCHJAX_DATA")
    assert offline.default_data_dir().parts[-2:] == (".cache", "sketchjax")


def test_digits_arrays():
    a = offline.digits_arrays()
    assert a["x_train"].shape == (1437, 8, 8, 1) and a["x_test"].shape == (360, 8, 8, 1)
    assert a["x_train"].dtype == np.float32 and a["y_train"].dtype == np.int32
    everything = np.concatenate([a["x_train"], a["x_test"]])
    assert everything.min() == 0.0 and everything.max() == 1.0
    info = dataset_info("digits")
    assert abs(everything.mean() - info.mean[0]) < 5e-4
    assert abs(everything.std() - info.std[0]) < 5e-4
    b = offline.digits_arrays()
    np.testing.assert_array_equal(a["x_test"], b["x_test"])  # fixed split
    flat_train = {x.tobytes() for x in a["x_train"]}
    overlap = sum(x.tobytes() in flat_train for x in a["x_test"])
    assert overlap <= 5  # digits has a few duplicate images; the split itself is disjoint


@pytest.mark.parametrize("name", ["mnist1d", "digits"])
def test_load_offline_normalises(name, cache_dir):
    raw = offline.mnist1d_arrays(cache_dir) if name == "mnist1d" else offline.digits_arrays()
    x, y = offline.load_offline(name, "train", cache_dir)
    info = dataset_info(name)
    np.testing.assert_allclose(x * np.float32(info.std[0]) + np.float32(info.mean[0]),
                               raw["x_train"], atol=1e-5)
    np.testing.assert_array_equal(y, raw["y_train"])
    with pytest.raises(SketchjaxError):
        offline.load_offline(name, "validation", cache_dir)
    with pytest.raises(SketchjaxError):
        offline.load_offline("cifar10", "train", cache_dir)


@pytest.mark.parametrize("name,n_train,n_test", [("mnist1d", 4000, 1000), ("digits", 1437, 360)])
def test_batch_api(name, n_train, n_test, cache_dir):
    shape = dataset_info(name).input_shape
    assert P.num_examples(name, "train", cache_dir) == n_train
    assert P.num_examples(name, "test", cache_dir) == n_test
    batches = list(P.train_batches(name, 64, seed=0, data_dir=cache_dir, num_epochs=1))
    assert len(batches) == n_train // 64
    assert all(b["image"].shape == (64, *shape) and b["image"].dtype == np.float32
               for b in batches)
    assert all(b["label"].shape == (64,) and b["label"].dtype == np.int32 for b in batches)
    x_train, y_train = offline.load_offline(name, "train", cache_dir)
    full = list(P.train_batches(name, 64, seed=0, data_dir=cache_dir, drop_remainder=False,
                                num_epochs=1))
    labels = np.concatenate([b["label"] for b in full])
    assert np.array_equal(np.sort(labels), np.sort(y_train))  # each example once
    evals = list(P.eval_batches(name, 64, data_dir=cache_dir))
    assert [len(b["label"]) for b in evals][-1] == n_test % 64 or n_test % 64 == 0
    x_test, y_test = offline.load_offline(name, "test", cache_dir)
    np.testing.assert_array_equal(np.concatenate([b["image"] for b in evals]), x_test)
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in evals]), y_test)


def test_offline_seeds_epochs_and_resume(cache_dir):
    run = lambda seed, **kw: np.concatenate([  # noqa: E731
        b["label"] for b in P.train_batches("digits", 32, seed, **kw)])
    two = run(0, num_epochs=2)
    np.testing.assert_array_equal(two, run(0, num_epochs=2))
    assert not np.array_equal(two, run(1, num_epochs=2))
    per_epoch = (1437 // 32) * 32
    assert not np.array_equal(two[:per_epoch], two[per_epoch:])
    np.testing.assert_array_equal(run(0, start_epoch=1, num_epochs=1), two[per_epoch:])
    np.testing.assert_array_equal(run(0, start_epoch=0, start_batch=5, num_epochs=2),
                                  two[5 * 32:])           # mid-epoch: the same batches on
    epoch1 = np.concatenate([b["label"] for b in P.epoch_batches("digits", 32, 0, epoch=1)])
    np.testing.assert_array_equal(epoch1, two[per_epoch:])
    aug = [b["image"] for b in P.train_batches("digits", 32, 0, augment=True, num_epochs=1)]
    plain = [b["image"] for b in P.train_batches("digits", 32, 0, augment=False, num_epochs=1)]
    np.testing.assert_array_equal(np.concatenate(aug), np.concatenate(plain))  # no augmentation


def test_offline_prune_batch(cache_dir):
    x, y = P.prune_batch("mnist1d", 256, seed=0, data_dir=cache_dir)
    assert x.shape == (256, 40, 1) and x.dtype == np.float32 and y.dtype == np.int32
    x2, _ = P.prune_batch("mnist1d", 256, seed=0, data_dir=cache_dir)
    np.testing.assert_array_equal(x, x2)
    x3, _ = P.prune_batch("mnist1d", 256, seed=1, data_dir=cache_dir)
    assert not np.array_equal(x, x3)
    with pytest.raises(SketchjaxError, match="exceeds"):
        P.prune_batch("digits", 2000, seed=0)


def test_offline_path_never_imports_tensorflow(cache_dir):
    code = textwrap.dedent(f"""
        import sys
        from sketchjax.data import train_batches, eval_batches, prune_batch, num_examples
        next(train_batches("mnist1d", 32, 0, data_dir={os.fspath(cache_dir)!r}))
        next(eval_batches("digits", 32))
        prune_batch("digits", 16, 0)
        num_examples("digits", "test")
        assert "tensorflow" not in sys.modules, "tensorflow imported"
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
