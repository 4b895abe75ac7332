"""Fashion-MNIST from its original IDX files: the reader, the search order, the batch API, and
(where Debian's package is installed) the real files' counts and labels."""
import gzip
from pathlib import Path

import numpy as np
import pytest

from sketchjax.data import offline
from sketchjax.data import pipelines as P
from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError

DEBIAN = offline.IDX_FOLDERS["fashion_mnist"][1]


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def small_fashion(folder: Path, n_train=120, n_test=30, seed=0):
    """Four IDX files of random 28x28 images; returns the raw arrays."""
    rng = np.random.default_rng(seed)
    raw = {"x_train": rng.integers(0, 256, (n_train, 28, 28), np.uint8),
           "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
           "x_test": rng.integers(0, 256, (n_test, 28, 28), np.uint8),
           "y_test": rng.integers(0, 10, n_test).astype(np.uint8)}
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in offline.IDX_FILES.items():
        write_idx(folder / name, raw[key])
    return raw


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    """Pretend Debian's package is not installed (whatever this machine has)."""
    monkeypatch.setitem(offline.IDX_FOLDERS, "fashion_mnist",
                        ("fashion-mnist", tmp_path / "not-installed"))
    offline._idx_arrays.cache_clear()
    yield
    offline._idx_arrays.cache_clear()


def test_read_idx_round_trip_and_foreign_files(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    np.testing.assert_array_equal(offline.read_idx(tmp_path / "a.gz"), a)
    with gzip.open(tmp_path / "bad.gz", "wb") as f:
        f.write(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"\x00" * 12)   # float32 code
    with pytest.raises(SketchjaxError, match="not an IDX file"):
        offline.read_idx(tmp_path / "bad.gz")
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(SketchjaxError, match="header says"):
        offline.read_idx(tmp_path / "short.gz")


def test_a_data_dir_holding_the_idx_files_serves_normalised_splits(tmp_path, no_debian):
    raw = small_fashion(tmp_path / "fashion-mnist")
    assert offline.idx_folder("fashion_mnist", tmp_path) == tmp_path / "fashion-mnist"
    images, labels = offline.load_offline("fashion_mnist", "train", tmp_path)
    info = dataset_info("fashion_mnist")
    assert images.shape == (120, 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_allclose(images[..., 0], (raw["x_train"] / 255.0 - info.mean[0])
                               / info.std[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, raw["y_train"].astype(np.int32))
    assert P.num_examples("fashion_mnist", "test", tmp_path) == 30
    batch = next(P.train_batches("fashion_mnist", 32, seed=1, data_dir=tmp_path))
    assert batch["image"].shape == (32, 28, 28, 1) and batch["label"].dtype == np.int32
    # No augmentation: every training image is one of the split's images, unchanged.
    flat = images.reshape(len(images), -1)
    for row in batch["image"].reshape(32, -1):
        assert np.any(np.all(flat == row, axis=1))
    assert sum(len(b["label"]) for b in P.eval_batches("fashion_mnist", 8, tmp_path)) == 30


def test_the_files_may_sit_in_the_data_dir_itself(tmp_path, no_debian):
    small_fashion(tmp_path)
    assert offline.idx_folder("fashion_mnist", tmp_path) == tmp_path
    assert offline.in_memory("fashion_mnist", tmp_path)
    assert not offline.in_memory("fashion_mnist", tmp_path / "elsewhere")
    assert not offline.in_memory("cifar10", tmp_path)


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, no_debian):
    with pytest.raises(SketchjaxError) as err:
        P.num_examples("fashion_mnist", "train", tmp_path)
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message and "\n" not in message


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_the_debian_package_files_hold_the_original_splits():
    offline._idx_arrays.cache_clear()
    assert offline.idx_folder("fashion_mnist") == DEBIAN
    train_images, train_labels = offline.load_offline("fashion_mnist", "train")
    test_images, test_labels = offline.load_offline("fashion_mnist", "test")
    assert train_images.shape == (60000, 28, 28, 1) and test_images.shape == (10000, 28, 28, 1)
    assert np.bincount(train_labels).tolist() == [6000] * 10
    assert np.bincount(test_labels).tolist() == [1000] * 10
    # The published normalisation (mean 0.2860, std 0.3530 of the train split in [0, 1]).
    info = dataset_info("fashion_mnist")
    raw = train_images * info.std[0] + info.mean[0]
    assert abs(raw.mean() - 0.2860) < 5e-4 and abs(raw.std() - 0.3530) < 5e-4
