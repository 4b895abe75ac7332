"""Batches for training, evaluation and pruning, one API for every dataset in `DATASETS`.

tensorflow-datasets sets (cifar10, cifar100, fashion_mnist, mnist, tiny_imagenet) and the
sets held in memory (mnist1d, digits, and fashion_mnist where its IDX files are on disk; see
`offline.py`) are served by the same functions, chosen by name. Every batch is a dict of numpy arrays {"image": float32 (B, *input_shape) normalised
with the dataset's mean/std, "label": int32 (B,)}.

Randomness, all derived from the caller's integer seed (no global state):
- Epoch e of the training stream visits the train split in the order
  `default_rng(SeedSequence([seed, 0, e]).spawn(2)[0]).permutation(N)` (positions refer to
  the split's stored order, read with `shuffle_files=False`). So `train_batches(start_epoch=e)`
  or `epoch_batches(epoch=e)` gives exactly the batches an uninterrupted run sees in epoch e.
- Augmentation of example i in epoch e uses stateless TF ops seeded with [k_e, i], where k_e
  is drawn from the other child of that SeedSequence: reproducible, and fresh every epoch.
- `prune_batch` uses its own stream (SeedSequence([seed, 1, 0])), so it is not the first
  training batch of the same seed.

Training augmentation (`augment=True`): cifar10, cifar100, tiny_imagenet get a random crop
after zero padding by 4 pixels (as PyTorch's RandomCrop(padding=4) before Normalize, so the pad
is black) and a horizontal flip with probability 1/2; mnist and fashion_mnist get none, as in
the reference code (a flipped digit is another symbol); offline sets get none.

The train split is held in host memory as uint8 (CIFAR: 150 MB, Tiny-ImageNet: 1.2 GB) so
that an epoch's permutation is a plain index array; evaluation streams from disk.

TensorFlow is imported only inside these functions, after hiding the GPUs from it, so that
`import sketchjax` stays fast and TensorFlow never takes the accelerator JAX uses. A dataset
that is not on disk is never downloaded implicitly: without `download=True` and a reachable
host (3 s check) it fails at once with a message saying where to put it.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sketchjax import names
from sketchjax.data import offline
from sketchjax.data.metadata import TINY_IMAGENET_ZIP, dataset_info
from sketchjax.data.tf_loader import import_tensorflow, import_tfds
from sketchjax.errors import SketchjaxError, check_int

TFDS_DATASETS = tuple(n for n in names.DATASETS if n not in names.OFFLINE_DATASETS)
AUGMENTED_DATASETS = ("cifar10", "cifar100", "tiny_imagenet")
CROP_PADDING = 4
CONNECT_TIMEOUT_S = 3.0
# Where tfds fetches each set from (checked for reachability before any download attempt).
_DOWNLOAD_URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/",
    "cifar100": "https://www.cs.toronto.edu/~kriz/",
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
_TEST_SPLIT = {"tiny_imagenet": "validation"}  # Tiny-ImageNet's test split has no labels
TRAIN_STREAM, _PRUNE_STREAM = 0, 1
_LOAD_BATCH = 1024

Batch = dict[str, np.ndarray]


# ----------------------------------------------------------------------------- validation


def _check_name(name: str) -> None:
    dataset_info(name)  # unknown names list the valid ones


def _split_name(name: str, split: str) -> str:
    """Map our split names (train, test) to the stored ones; 'validation' also accepted."""
    if split == "train":
        return "train"
    if split in ("test", "validation") and name in _TEST_SPLIT:
        return _TEST_SPLIT[name]
    if split == "test":
        return "test"
    raise SketchjaxError(f"unknown split {split!r} for {name}; valid splits: train, test")


# ----------------------------------------------------------------------------- seeds


def epoch_order(seed: int, stream: int, epoch: int, n: int) -> tuple[np.ndarray, int]:
    """(order of the N examples, augmentation key) for one epoch of one stream."""
    perm_seq, aug_seq = np.random.SeedSequence([seed, stream, epoch]).spawn(2)
    order = np.random.default_rng(perm_seq).permutation(n)
    aug_key = int(aug_seq.generate_state(1, np.uint64)[0] >> np.uint64(1))  # fits int64
    return order, aug_key


# ----------------------------------------------------------------------------- tfds access


def _host_reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the URL's host opens within `timeout` seconds.

    Runs in a daemon thread because name resolution ignores socket timeouts.
    """
    parsed = urllib.parse.urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result = []

    def connect():
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _data_root(data_dir) -> Path:
    """`data_dir`, else tfds' default ($TFDS_DATA_DIR or ~/tensorflow_datasets), found
    without importing TensorFlow."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    return Path(os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()


def _prepared(name: str, root: Path) -> bool:
    """A prepared tfds data set lies at root/name/[config/]version/dataset_info.json."""
    return any((root / name).glob("**/dataset_info.json"))


def _missing_message(name: str, root: Path, reason: str) -> str:
    offline_sets = ", ".join(names.OFFLINE_DATASETS)
    if name == "tiny_imagenet":
        where = (f"download {TINY_IMAGENET_ZIP} (http://cs231n.stanford.edu/{TINY_IMAGENET_ZIP})"
                 f" and put it, unextracted, in {root / 'downloads' / 'manual'}/")
    elif name in offline.IDX_FOLDERS:
        folder, debian = offline.IDX_FOLDERS[name]
        where = (f"`apt-get install dataset-fashion-mnist` (Debian, Ubuntu) puts its IDX files in "
                 f"{debian}/, or put the four IDX .gz files in DIR/{folder}/ and pass that DIR "
                 f"as the data dir")
    else:
        where = (f"put the prepared tfds folder in {root / name}/ (on a machine with network: "
                 f"`tfds build {name} --data_dir DIR`, then copy DIR/{name}/), or pass the "
                 f"data dir that holds it")
    return (f"dataset {name!r} is not prepared under {root} ({reason}). To get it: {where}. "
            f"Datasets that need no download: {offline_sets}.")


def _builder(name: str, data_dir=None, download: bool = False):
    """A prepared tfds builder for `name`; builds Tiny-ImageNet from its zip if present.

    Never lets tfds attempt a download unless `download` is set and the host answers. A data
    set that is not on disk is one message before TensorFlow is imported (its start-up logs
    would bury it).
    """
    root = _data_root(data_dir)
    manual_dir = root / "downloads" / "manual"
    prepared = _prepared(name, root)
    if not prepared:
        if name == "tiny_imagenet" and not (manual_dir / TINY_IMAGENET_ZIP).exists():
            raise SketchjaxError(
                _missing_message(name, root, f"no {TINY_IMAGENET_ZIP} in the manual dir"))
        if name != "tiny_imagenet" and not download:
            raise SketchjaxError(_missing_message(name, root, "not on disk"))
    tfds = import_tfds()
    if name == "tiny_imagenet":
        from sketchjax.data import tiny_imagenet  # noqa: F401  (registers the builder)
    builder = tfds.builder(name, data_dir=os.fspath(root))
    if builder.is_prepared():
        return builder
    if name == "tiny_imagenet":
        config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir),
                                              try_download_gcs=False)
    else:
        if not download:     # a folder is there, but not the version tfds reads
            found = sorted(str(p.parent.relative_to(root))
                           for p in (root / name).glob("**/dataset_info.json"))
            raise SketchjaxError(_missing_message(
                name, root, f"tfds {tfds.__version__} reads {builder.data_dir}; on disk: "
                f"{', '.join(found)}"))
        url = _DOWNLOAD_URLS[name]
        if not _host_reachable(url):
            raise SketchjaxError(_missing_message(
                name, root, f"{urllib.parse.urlparse(url).hostname} cannot be reached"))
        config = tfds.download.DownloadConfig(try_download_gcs=False)
    try:
        builder.download_and_prepare(download_config=config)
    except Exception as e:  # noqa: BLE001  (tfds raises many types; the user needs one message)
        raise SketchjaxError(_missing_message(name, root, f"preparing it failed ({e})")) from e
    return builder


def _split_size(builder, split: str) -> int:
    try:
        return int(builder.info.splits[split].num_examples)
    except KeyError:
        raise SketchjaxError(
            f"{builder.name} has no split {split!r}; it has: {', '.join(builder.info.splits)}"
        ) from None


def _load_tfds_split(builder, split: str, indices: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A split (or the examples at sorted `indices` of it) as uint8 images and int32 labels.

    Images are decoded only for the kept examples, so a prune batch costs one pass over the
    encoded records, not a decode of the whole split.
    """
    tfds = import_tfds()
    tf = import_tensorflow()
    image_feature = builder.info.features["image"]
    ds = builder.as_dataset(split=split, shuffle_files=False,
                            decoders={"image": tfds.decode.SkipDecoding()})
    ds = ds.enumerate()
    if indices is not None:
        n = _split_size(builder, split)
        keep = np.zeros(n, bool)
        keep[indices] = True
        keep_t = tf.constant(keep)
        ds = ds.filter(lambda i, ex: (i < n) & tf.gather(keep_t, tf.minimum(i, n - 1)))
    ds = ds.map(lambda i, ex: (image_feature.decode_example(ex["image"]),
                               tf.cast(ex["label"], tf.int32)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    images, labels = [], []
    for x, y in tfds.as_numpy(ds.batch(_LOAD_BATCH).prefetch(tf.data.AUTOTUNE)):
        images.append(x)
        labels.append(y)
    if not images:
        raise SketchjaxError(f"split {split!r} of {builder.name} is empty")
    images, labels = np.concatenate(images), np.concatenate(labels)
    if indices is not None and len(labels) != len(indices):
        raise SketchjaxError(
            f"{builder.name}/{split}: expected {len(indices)} selected examples, read "
            f"{len(labels)}; the prepared data does not match its dataset_info.json")
    return images, labels


def _normaliser(name: str, tf):
    info = dataset_info(name)
    mean = tf.constant(info.mean, tf.float32)
    std = tf.constant(info.std, tf.float32)
    return lambda x: (x - mean) / std


def _augment(image, seed, tf):
    """Zero-pad by CROP_PADDING, crop back at a random offset, flip with probability 1/2.

    `image` is float32 (H, W, C) in [0, 1]; `seed` an int64 (2,) tensor.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    shape = tf.shape(image)
    p = CROP_PADDING
    padded = tf.pad(image, [[p, p], [p, p], [0, 0]])
    image = tf.image.stateless_random_crop(padded, shape, seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def _tf_batches(name: str, images_t, labels_t, positions: np.ndarray, example_ids: np.ndarray,
                aug_key: int, augment: bool, batch_size: int, drop_remainder: bool):
    """tf.data batches of images_t[positions]; augmentation of example i is seeded [aug_key, i]."""
    tf = import_tensorflow()
    normalise = _normaliser(name, tf)
    key = tf.constant(aug_key, tf.int64)

    def load(pos, example_id):
        image = tf.cast(tf.gather(images_t, pos), tf.float32) / 255.0
        if augment:
            image = _augment(image, tf.stack([key, example_id]), tf)
        return {"image": normalise(image), "label": tf.gather(labels_t, pos)}

    ds = tf.data.Dataset.from_tensor_slices(
        (positions.astype(np.int64), example_ids.astype(np.int64)))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _numpy_batches(ds) -> Iterator[Batch]:
    tfds = import_tfds()
    for batch in tfds.as_numpy(ds):
        yield {"image": batch["image"], "label": batch["label"]}


# ----------------------------------------------------------------------------- public API


def num_examples(name: str, split: str = "train", data_dir=None) -> int:
    """Number of examples in a split ("train" or "test"; Tiny-ImageNet's test is its validation).

    Args:
      name: a dataset name from `DATASETS`.
      split: "train" or "test".
      data_dir: tfds data dir (tfds sets) or cache dir (offline sets).
    Returns:
      the count, from the prepared dataset's metadata (tfds) or the arrays (offline).
    """
    _check_name(name)
    stored = _split_name(name, split)
    if offline.in_memory(name, data_dir):
        return len(offline.load_offline(name, stored, data_dir)[1])
    return _split_size(_builder(name, data_dir), stored)


def train_batches(name: str, batch_size: int, seed: int, data_dir=None, augment: bool = True,
                  drop_remainder: bool = True, *, start_epoch: int = 0, start_batch: int = 0,
                  num_epochs: int | None = None, download: bool = False) -> Iterator[Batch]:
    """Shuffled, augmented training batches, epoch after epoch.

    The batches of epoch e depend only on (name, batch_size, seed, e, augment, drop_remainder),
    so a run resumed with `start_epoch=e` sees what an uninterrupted run sees from epoch e on.
    Loads the train split (into memory) before returning, so a missing dataset raises here.

    Args:
      name: a dataset name from `DATASETS`.
      batch_size: B.
      seed: a non-negative int; determines the order and the augmentation of every epoch.
      data_dir: tfds data dir (tfds sets) or cache dir (offline sets); None = the defaults.
      augment: apply the dataset's training augmentation (see the module doc).
      drop_remainder: drop each epoch's last partial batch.
      start_epoch: the first epoch to yield.
      start_batch: the first batch of that epoch to yield (a run resumed mid-epoch); the
        batches before it are never read.
      num_epochs: how many epochs to yield; None = forever.
      download: let tfds download a missing set (only if its host answers within 3 s).
    Returns:
      an iterator of {"image": float32 (B, *input_shape), "label": int32 (B,)}.
    """
    _check_name(name)
    batch_size = check_int(batch_size, "batch_size", 1)
    seed = check_int(seed, "seed", 0)
    start_epoch = check_int(start_epoch, "start_epoch", 0)
    start_batch = check_int(start_batch, "start_batch", 0)
    if num_epochs is not None:
        num_epochs = check_int(num_epochs, "num_epochs", 0)
    arrays = tensors = None  # the train split: numpy (offline sets) or TF tensors (tfds sets)
    if offline.in_memory(name, data_dir):
        arrays = offline.load_offline(name, "train", data_dir)
        n = len(arrays[1])
    else:
        tf = import_tensorflow()
        images, labels = _load_tfds_split(_builder(name, data_dir, download), "train")
        n = len(labels)
        tensors = (tf.constant(images), tf.constant(labels))
        del images, labels  # keep one copy of the split, not two
    if drop_remainder and batch_size > n:
        raise SketchjaxError(
            f"batch_size {batch_size} exceeds the {n} training examples of {name}; "
            "no full batch exists (use drop_remainder=False or a smaller batch)")
    do_augment = augment and name in AUGMENTED_DATASETS

    def generate() -> Iterator[Batch]:
        epoch, first = start_epoch, start_batch * batch_size
        while num_epochs is None or epoch < start_epoch + num_epochs:
            order, aug_key = epoch_order(seed, TRAIN_STREAM, epoch, n)
            order = order[first:]   # the batches' boundaries stay those of the whole epoch
            if arrays is not None:
                stop = len(order) - len(order) % batch_size if drop_remainder else len(order)
                for lo in range(0, stop, batch_size):
                    idx = order[lo:lo + batch_size]
                    yield {"image": arrays[0][idx], "label": arrays[1][idx]}
            else:
                yield from _numpy_batches(_tf_batches(
                    name, *tensors, order, order, aug_key, do_augment, batch_size,
                    drop_remainder))
            epoch, first = epoch + 1, 0

    return generate()


def epoch_batches(name: str, batch_size: int, seed: int, epoch: int, data_dir=None,
                  augment: bool = True, drop_remainder: bool = True, *,
                  download: bool = False) -> Iterator[Batch]:
    """The training batches of one epoch: `train_batches(..., start_epoch=epoch, num_epochs=1)`.

    Args/Returns: as `train_batches`; `epoch` is the epoch index (>= 0).
    """
    return train_batches(name, batch_size, seed, data_dir, augment, drop_remainder,
                         start_epoch=epoch, num_epochs=1, download=download)


def eval_batches(name: str, batch_size: int, data_dir=None, *,
                 download: bool = False) -> Iterator[Batch]:
    """The test split (Tiny-ImageNet: validation) in stored order, unaugmented.

    Args:
      name: a dataset name from `DATASETS`.
      batch_size: B; the last batch keeps the remainder (it may be smaller).
      data_dir: tfds data dir (tfds sets) or cache dir (offline sets).
      download: as in `train_batches`.
    Returns:
      an iterator of {"image": float32 (b, *input_shape), "label": int32 (b,)}, b <= B.
    """
    _check_name(name)
    batch_size = check_int(batch_size, "batch_size", 1)
    split = _split_name(name, "test")
    if offline.in_memory(name, data_dir):
        images, labels = offline.load_offline(name, split, data_dir)
        return ({"image": images[lo:lo + batch_size], "label": labels[lo:lo + batch_size]}
                for lo in range(0, len(labels), batch_size))
    tf = import_tensorflow()
    builder = _builder(name, data_dir, download)
    normalise = _normaliser(name, tf)
    ds = builder.as_dataset(split=split, shuffle_files=False)
    ds = ds.map(lambda ex: {"image": normalise(tf.cast(ex["image"], tf.float32) / 255.0),
                            "label": tf.cast(ex["label"], tf.int32)},
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _numpy_batches(ds.batch(batch_size).prefetch(tf.data.AUTOTUNE))


def prune_batch(name: str, batch_size: int, seed: int, data_dir=None, *,
                augment: bool = True, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One batch of distinct training examples with the training augmentation (SNIP, GraSP).

    Drawn from its own seeded stream, not the first batch of `train_batches(seed)`.

    Args:
      name: a dataset name from `DATASETS`.
      batch_size: B, at most the size of the train split.
      seed: a non-negative int.
      data_dir: tfds data dir (tfds sets) or cache dir (offline sets).
      augment: apply the training augmentation (the reference does).
      download: as in `train_batches`.
    Returns:
      images: float32 (B, *input_shape), normalised; labels: int32 (B,).
    """
    _check_name(name)
    batch_size = check_int(batch_size, "batch_size", 1)
    seed = check_int(seed, "seed", 0)
    if offline.in_memory(name, data_dir):
        images, labels = offline.load_offline(name, "train", data_dir)
        n = len(labels)
    else:
        builder = _builder(name, data_dir, download)
        n = _split_size(builder, "train")
    if batch_size > n:
        raise SketchjaxError(f"batch_size {batch_size} exceeds the {n} training examples of {name}")
    order, aug_key = epoch_order(seed, _PRUNE_STREAM, 0, n)
    chosen = order[:batch_size]
    if offline.in_memory(name, data_dir):
        return images[chosen], labels[chosen]
    tf = import_tensorflow()
    sorted_ids = np.sort(chosen)
    images, labels = _load_tfds_split(builder, "train", sorted_ids)
    positions = np.searchsorted(sorted_ids, chosen)
    ds = _tf_batches(name, tf.constant(images), tf.constant(labels), positions, chosen, aug_key,
                     augment and name in AUGMENTED_DATASETS, batch_size, False)
    batch = next(_numpy_batches(ds))
    return batch["image"], batch["label"]


__all__ = [
    "AUGMENTED_DATASETS", "CROP_PADDING", "TFDS_DATASETS", "eval_batches", "epoch_batches",
    "num_examples", "prune_batch", "train_batches",
]
