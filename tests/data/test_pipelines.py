"""tfds pipelines on tfds.testing.mock_data: shapes, normalisation, seeds, augmentation, errors."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from sketchjax.data import pipelines as P
from sketchjax.data import tf_loader
from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError

pytestmark = pytest.mark.tfds    # TensorFlow and tensorflow-datasets: the tfds extra

N = 26  # mock examples per split (train and test yield the same examples under the mock)
B = 8


@pytest.fixture(scope="module")
def tfds():
    return tf_loader.import_tfds()


@pytest.fixture(scope="module")
def metadata_dir(tmp_path_factory, tfds):
    """A data dir holding only dataset_info.json/features.json, so the mock sees prepared sets."""
    root = tmp_path_factory.mktemp("tfds_meta")
    for name in ("cifar10", "mnist"):
        builder = tfds.builder(name, data_dir=os.fspath(root))
        builder.info.set_splits(tfds.core.SplitDict([
            tfds.core.SplitInfo(name="train", shard_lengths=[N], num_bytes=0),
            tfds.core.SplitInfo(name="test", shard_lengths=[N], num_bytes=0)]))
        os.makedirs(builder.data_dir, exist_ok=True)
        builder.info.write_to_directory(builder.data_dir)
    return root


@pytest.fixture
def mocked(tfds, metadata_dir):
    # The default data dir is $TFDS_DATA_DIR: where the mock's metadata lies (the library
    # looks for a prepared folder there before it imports TensorFlow).
    previous = os.environ.get("TFDS_DATA_DIR")
    os.environ["TFDS_DATA_DIR"] = os.fspath(metadata_dir)
    with tfds.testing.mock_data(num_examples=N, data_dir=os.fspath(metadata_dir)):
        yield
    if previous is None:
        del os.environ["TFDS_DATA_DIR"]
    else:
        os.environ["TFDS_DATA_DIR"] = previous


def raw_examples(tfds, name, split="train"):
    """The mock's examples in stored order: uint8 images and labels."""
    ds = tfds.builder(name).as_dataset(split=split, shuffle_files=False)
    exs = list(tfds.as_numpy(ds))  # iterate: no batch_size=-1 under the mock
    return np.stack([e["image"] for e in exs]), np.array([e["label"] for e in exs])


def unnormalise(name, images):
    info = dataset_info(name)
    return images * np.asarray(info.std, np.float32) + np.asarray(info.mean, np.float32)


def index_of(raw, images, name):
    """For unaugmented batch images, the index of the raw example each one is."""
    pixels = unnormalise(name, images)
    ref = raw.astype(np.float32) / 255.0
    d = np.abs(pixels[:, None] - ref[None]).reshape(len(pixels), len(ref), -1).max(-1)
    assert (d.min(1) < 1e-5).all()
    return d.argmin(1)


def crop_flip_of(aug, orig, pad=P.CROP_PADDING):
    """(dy, dx, flipped) such that aug == flip(crop(zero-pad(orig))), or None."""
    h, w, _ = orig.shape
    padded = np.pad(orig, ((pad, pad), (pad, pad), (0, 0)))
    for flipped in (False, True):
        target = aug[:, ::-1] if flipped else aug
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                if np.abs(padded[dy:dy + h, dx:dx + w] - target).max() < 1e-5:
                    return dy, dx, flipped
    return None


def collect(it):
    batches = list(it)
    return (np.concatenate([b["image"] for b in batches]),
            np.concatenate([b["label"] for b in batches]), batches)


def test_importing_sketchjax_data_does_not_import_tensorflow():
    code = ("import sys, sketchjax, sketchjax.data, sketchjax.data.pipelines, "
            "sketchjax.data.offline, sketchjax.data.random_data, sketchjax.data.streams, "
            "sketchjax.training, sketchjax.mask_store; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_tensorflow_hides_gpus():
    tf = tf_loader.import_tensorflow()
    assert tf.config.get_visible_devices("GPU") == []


@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_train_shapes_dtypes_and_epoch_length(mocked, name):
    info = dataset_info(name)
    batches = list(P.train_batches(name, B, seed=0, num_epochs=2))
    assert len(batches) == 2 * (N // B)  # drop_remainder per epoch
    for b in batches:
        assert set(b) == {"image", "label"}
        assert b["image"].shape == (B, *info.input_shape) and b["image"].dtype == np.float32
        assert b["label"].shape == (B,) and b["label"].dtype == np.int32
        assert ((0 <= b["label"]) & (b["label"] < info.num_classes)).all()
    kept = list(P.train_batches(name, B, seed=0, num_epochs=1, drop_remainder=False))
    assert [len(b["label"]) for b in kept] == [8, 8, 8, 2]


def test_eval_keeps_last_batch_stored_order_and_normalisation(tfds, mocked):
    raw, labels = raw_examples(tfds, "cifar10", "test")
    images, got_labels, batches = collect(P.eval_batches("cifar10", B))
    assert [len(b["label"]) for b in batches] == [8, 8, 8, 2]
    assert images.dtype == np.float32 and got_labels.dtype == np.int32
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_allclose(unnormalise("cifar10", images), raw / 255.0, atol=1e-5)
    # Normalised mock pixels (uniform on 0..255) have per-channel mean (127.5/255 - m) / s.
    info = dataset_info("cifar10")
    expected = (127.5 / 255 - np.asarray(info.mean)) / np.asarray(info.std)
    np.testing.assert_allclose(images.mean((0, 1, 2)), expected, atol=0.05)


def test_same_seed_same_batches_other_seed_other_order(tfds, mocked):
    raw, _ = raw_examples(tfds, "cifar10")
    a = collect(P.train_batches("cifar10", B, seed=3, num_epochs=2))
    b = collect(P.train_batches("cifar10", B, seed=3, num_epochs=2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    order = lambda seed: index_of(raw, collect(P.train_batches(  # noqa: E731
        "cifar10", B, seed, augment=False, drop_remainder=False, num_epochs=1))[0], "cifar10")
    o3, o4 = order(3), order(4)
    assert sorted(o3) == list(range(N)) and sorted(o4) == list(range(N))  # each example once
    assert not np.array_equal(o3, o4)


def test_epochs_reshuffle_and_resume_matches_uninterrupted_run(mocked):
    images, labels, _ = collect(P.train_batches("cifar10", B, seed=5, num_epochs=3))
    per_epoch = (N // B) * B
    assert not np.array_equal(labels[:per_epoch], labels[per_epoch:2 * per_epoch])
    for epoch in (1, 2):
        sl = slice(epoch * per_epoch, (epoch + 1) * per_epoch)
        resumed = collect(P.epoch_batches("cifar10", B, seed=5, epoch=epoch))
        np.testing.assert_array_equal(resumed[0], images[sl])
        np.testing.assert_array_equal(resumed[1], labels[sl])
    tail = collect(P.train_batches("cifar10", B, seed=5, start_epoch=1, num_epochs=2))
    np.testing.assert_array_equal(tail[0], images[per_epoch:])


def test_a_mid_epoch_start_yields_the_uninterrupted_batches_from_there(mocked):
    # IMP's rewind point K starts training mid-epoch: batch j of epoch e onward, augmented
    # exactly as an uninterrupted run augments them, without reading the batches before it.
    images, labels, _ = collect(P.train_batches("cifar10", B, seed=5, num_epochs=3))
    per_epoch = N // B
    for epoch, batch in ((0, 1), (1, per_epoch - 1)):
        tail = collect(P.train_batches("cifar10", B, seed=5, start_epoch=epoch,
                                       start_batch=batch, num_epochs=3 - epoch))
        start = (epoch * per_epoch + batch) * B
        np.testing.assert_array_equal(tail[1], labels[start:])
        np.testing.assert_array_equal(tail[0], images[start:])


def test_augmentation_is_a_seeded_zero_padded_crop_and_flip(tfds, mocked):
    raw, _ = raw_examples(tfds, "cifar10")
    plain = collect(P.train_batches("cifar10", B, seed=7, augment=False, num_epochs=2))
    aug = collect(P.train_batches("cifar10", B, seed=7, augment=True, num_epochs=2))
    np.testing.assert_array_equal(plain[1], aug[1])  # augmentation does not change the order
    assert not np.allclose(plain[0], aug[0])
    idx = index_of(raw, plain[0], "cifar10")
    found = [crop_flip_of(a, raw[i] / 255.0)
             for a, i in zip(unnormalise("cifar10", aug[0]), idx)]
    assert all(f is not None for f in found)
    assert {f[2] for f in found} == {False, True}  # both flipped and unflipped occur
    assert any((f[0], f[1]) != (4, 4) for f in found)  # shifted crops occur


def test_mnist_gets_no_augmentation(mocked):
    a = collect(P.train_batches("mnist", B, seed=1, augment=True, num_epochs=1))
    b = collect(P.train_batches("mnist", B, seed=1, augment=False, num_epochs=1))
    np.testing.assert_array_equal(a[0], b[0])


def test_prune_batch(tfds, mocked):
    raw, raw_labels = raw_examples(tfds, "cifar10")
    x, y = P.prune_batch("cifar10", 10, seed=0)
    assert x.shape == (10, 32, 32, 3) and x.dtype == np.float32
    assert y.shape == (10,) and y.dtype == np.int32
    x2, y2 = P.prune_batch("cifar10", 10, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    plain, plain_y = P.prune_batch("cifar10", 10, seed=0, augment=False)
    idx = index_of(raw, plain, "cifar10")
    assert len(set(idx)) == 10  # distinct examples
    np.testing.assert_array_equal(plain_y, raw_labels[idx])
    np.testing.assert_array_equal(y, plain_y)
    for a, i in zip(unnormalise("cifar10", x), idx):
        assert crop_flip_of(a, raw[i] / 255.0) is not None
    other, _ = P.prune_batch("cifar10", 10, seed=1, augment=False)
    assert not np.array_equal(index_of(raw, other, "cifar10"), idx)


def test_num_examples_reads_metadata(mocked):
    assert P.num_examples("cifar10", "train") == N
    assert P.num_examples("mnist", "test") == N


def test_missing_dataset_fails_fast_with_instructions(tmp_path, tfds, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    for name, hint in [("cifar10", "tfds build cifar10"),
                       ("tiny_imagenet", os.fspath(tmp_path / "downloads" / "manual"))]:
        start = time.monotonic()
        with pytest.raises(SketchjaxError) as e:
            P.train_batches(name, B, seed=0, data_dir=tmp_path)
        assert time.monotonic() - start < 10  # guard against tfds' minutes of retries
        msg = str(e.value)
        assert os.fspath(tmp_path) in msg and hint in msg
        assert "mnist1d" in msg and "digits" in msg
    with pytest.raises(SketchjaxError, match="mnist1d"):
        list(P.eval_batches("mnist", B, data_dir=tmp_path))
    with pytest.raises(SketchjaxError, match="mnist1d"):
        P.prune_batch("cifar100", B, seed=0, data_dir=tmp_path)


def test_download_requested_but_host_unreachable(tmp_path, tfds, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    monkeypatch.setattr(P, "_host_reachable", lambda url, timeout=3.0: False)
    with pytest.raises(SketchjaxError, match="cannot be reached"):
        P.train_batches("cifar10", B, seed=0, data_dir=tmp_path, download=True)


def test_host_check_gives_up_quickly():
    start = time.monotonic()
    assert not P._host_reachable("http://sketchjax-test.invalid/", timeout=3.0)
    assert time.monotonic() - start < 10


def test_user_errors(mocked):
    with pytest.raises(SketchjaxError, match="cifar10"):
        P.train_batches("imagenet", B, seed=0)
    with pytest.raises(SketchjaxError, match="batch_size"):
        P.train_batches("cifar10", 0, seed=0)
    with pytest.raises(SketchjaxError, match="seed"):
        P.train_batches("cifar10", B, seed=-1)
    with pytest.raises(SketchjaxError, match="split"):
        P.num_examples("cifar10", "val")
    with pytest.raises(SketchjaxError, match="exceeds"):
        P.train_batches("cifar10", N + 1, seed=0)
    with pytest.raises(SketchjaxError, match="exceeds"):
        P.prune_batch("cifar10", N + 1, seed=0)


def test_a_folder_of_another_version_is_not_downloaded_over(tmp_path, tfds, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    (tmp_path / "cifar10" / "0.0.1").mkdir(parents=True)
    (tmp_path / "cifar10" / "0.0.1" / "dataset_info.json").write_text("{}")
    with pytest.raises(SketchjaxError, match=r"on disk: cifar10/0\.0\.1"):
        P.num_examples("cifar10", "train", tmp_path)
