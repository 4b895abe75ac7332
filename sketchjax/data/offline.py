"""Datasets served from numpy arrays in memory: mnist1d and scikit-learn's digits (no network,
no download), and Fashion-MNIST read from its original IDX files where they are on disk.

All are small enough to live in memory; no TensorFlow is imported here.
Batches come from the common API in `sketchjax.data.pipelines` (train_batches, eval_batches,
prune_batch, num_examples), which dispatches on the dataset name.

- mnist1d: the `mnist1d` package's generator with its default arguments (5000 examples, seed 42,
  first 4000 train / last 1000 test, exactly as the package splits), shape (N, 40, 1). Generated
  once and cached as an .npz under the data dir; the cache is written to a temporary file and
  renamed. The package reseeds Python's and numpy's global generators; we restore them.
- mnist1d_large: the same generator and arguments with num_samples=20000 (16000 train / 4000
  test), for experiments whose differences 1,000 test examples cannot resolve.
- digits: `sklearn.datasets.load_digits` (bundled with scikit-learn), scaled by 1/16 to [0, 1],
  shape (N, 8, 8, 1); a fixed permutation (numpy seed 0) puts the first 1437 (80%) in train and
  the other 360 in test.
- fashion_mnist: the four gzipped IDX files of the original release (train 60,000, test
  10,000, 28x28 uint8, scaled by 1/255), looked for in this order: `<data_dir>/fashion-mnist/`
  and `<data_dir>/` when a data dir is given, then Debian's package `dataset-fashion-mnist`
  (`/usr/share/datasets/fashion-mnist/`). Where none holds them, the tfds folder is used
  (`sketchjax.data.pipelines`), with the same normalisation and splits.
None gets training augmentation (ours: 1-pixel shifts on 8x8 digits are large, mnist1d
examples are already randomly shifted and sheared by construction, and the reference code
does not augment Fashion-MNIST).
"""
from __future__ import annotations

import functools
import gzip
import os
import random
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from sketchjax.atomic import atomic_savez
from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError
from sketchjax.names import OFFLINE_DATASETS
MNIST1D_SEED = 42
# The generator's num_samples per dataset name (the package's default is 5000).
MNIST1D_SAMPLES = {"mnist1d": 5000, "mnist1d_large": 20000}
DIGITS_SPLIT_SEED = 0
DIGITS_TRAIN_FRACTION = 0.8
_KEYS = ("x_train", "y_train", "x_test", "y_test")
# Datasets read from the original IDX files: name -> (folder name under a data dir, Debian's).
IDX_FOLDERS = {"fashion_mnist": ("fashion-mnist", Path("/usr/share/datasets/fashion-mnist"))}
IDX_FILES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
             "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}
_IDX_DTYPES = {0x08: np.uint8}


def default_data_dir() -> Path:
    """$SKETCHJAX_DATA if set, else ~/.cache/sketchjax."""
    env = os.environ.get("SKETCHJAX_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sketchjax"


def _mnist1d_file(name: str) -> str:
    n = MNIST1D_SAMPLES[name]
    return (f"mnist1d_default_seed{MNIST1D_SEED}.npz" if n == 5000
            else f"mnist1d_n{n}_seed{MNIST1D_SEED}.npz")


def _generate_mnist1d(num_samples: int = 5000) -> dict[str, np.ndarray]:
    """Run the mnist1d generator (default args but num_samples); leave global RNGs alone."""
    from mnist1d.data import get_dataset_args, make_dataset
    args = get_dataset_args()
    args.seed = MNIST1D_SEED
    args.num_samples = num_samples
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x_train": np.asarray(data["x"], np.float32)[..., None],
        "y_train": np.asarray(data["y"], np.int32),
        "x_test": np.asarray(data["x_test"], np.float32)[..., None],
        "y_test": np.asarray(data["y_test"], np.int32),
    }


def mnist1d_arrays(data_dir: str | os.PathLike | None = None,
                   name: str = "mnist1d") -> dict[str, np.ndarray]:
    """mnist1d (or mnist1d_large), un-normalised, from the cache under `data_dir` (generated
    on first use).

    Args:
      data_dir: cache root; default `default_data_dir()`. The file is <data_dir>/mnist1d/*.npz.
      name: "mnist1d" or "mnist1d_large".
    Returns:
      {"x_train": (N_train, 40, 1) float32, "y_train": (N_train,) int32, "x_test", "y_test"}:
      4000 / 1000 examples for mnist1d, 16000 / 4000 for mnist1d_large.
    """
    path = Path(data_dir or default_data_dir()).expanduser() / "mnist1d" / _mnist1d_file(name)
    if path.exists():
        try:
            with np.load(path) as f:
                arrays = {k: f[k] for k in _KEYS}
            if arrays["x_train"].ndim == 3 and arrays["x_train"].shape[1:] == (40, 1):
                return arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # truncated or foreign file: regenerate and replace it
    arrays = _generate_mnist1d(MNIST1D_SAMPLES[name])
    atomic_savez(path, arrays)
    return arrays


def digits_arrays() -> dict[str, np.ndarray]:
    """scikit-learn's 8x8 digits in [0, 1], un-normalised, split 80/20 with a fixed seed.

    Returns:
      {"x_train": (1437, 8, 8, 1) float32, "y_train": (1437,) int32,
       "x_test": (360, 8, 8, 1) float32, "y_test": (360,) int32}.
    """
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (np.asarray(digits.images, np.float32) / 16.0)[..., None]
    labels = np.asarray(digits.target, np.int32)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    n_train = int(DIGITS_TRAIN_FRACTION * len(labels))
    train, test = order[:n_train], order[n_train:]
    return {"x_train": images[train], "y_train": labels[train],
            "x_test": images[test], "y_test": labels[test]}


def idx_folder(name: str, data_dir: str | os.PathLike | None = None) -> Optional[Path]:
    """The first folder holding all four IDX files of `name`, in the documented order
    (`<data_dir>/<folder>/`, `<data_dir>/`, Debian's package folder), or None."""
    if name not in IDX_FOLDERS:
        return None
    folder, debian = IDX_FOLDERS[name]
    candidates = ([Path(data_dir).expanduser() / folder, Path(data_dir).expanduser()]
                  if data_dir is not None else []) + [debian]
    return next((c for c in candidates if all((c / f).is_file() for f in IDX_FILES.values())),
                None)


def in_memory(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether `name` is served from arrays here (offline sets; IDX files on disk)."""
    return name in OFFLINE_DATASETS or idx_folder(name, data_dir) is not None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """One gzipped IDX file (magic 0, 0, dtype code, ndim; big-endian sizes) as an array.

    Raises:
      SketchjaxError: a truncated or foreign file.
    """
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise SketchjaxError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, _IDX_DTYPES[data[2]], offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise SketchjaxError(f"{path} holds {body.size} values, its header says {shape}")
    return body.reshape(shape)


@functools.lru_cache(maxsize=2)
def _idx_arrays(folder: Path) -> dict[str, np.ndarray]:
    arrays = {key: read_idx(folder / file) for key, file in IDX_FILES.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or len(x) != len(y):
            raise SketchjaxError(f"{folder}: {split} images {x.shape} and labels {y.shape} "
                                 "do not match")
        arrays[f"x_{split}"] = (x.astype(np.float32) / 255.0)[..., None]
        arrays[f"y_{split}"] = y.astype(np.int32)
    return arrays


def load_offline(name: str, split: str,
                 data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One split of an offline dataset, normalised with the metadata mean/std.

    Args:
      name: "mnist1d", "mnist1d_large", "digits", or an IDX dataset on disk (`idx_folder`).
      split: "train" or "test".
      data_dir: cache root for mnist1d, first place to look for IDX files (digits needs none).
    Returns:
      images: (N, *input_shape) float32, normalised; labels: (N,) int32.
    """
    folder = idx_folder(name, data_dir)
    if name not in OFFLINE_DATASETS and folder is None:
        raise SketchjaxError(
            f"{name!r} is not an offline dataset; offline datasets: {', '.join(OFFLINE_DATASETS)}")
    if split not in ("train", "test"):
        raise SketchjaxError(f"unknown split {split!r} for {name}; valid splits: train, test")
    if folder is not None:
        arrays = _idx_arrays(folder)
    elif name in MNIST1D_SAMPLES:
        arrays = mnist1d_arrays(data_dir, name)
    else:
        arrays = digits_arrays()
    info = dataset_info(name)
    mean = np.asarray(info.mean, np.float32)
    std = np.asarray(info.std, np.float32)
    images = (arrays[f"x_{split}"] - mean) / std
    return images.astype(np.float32), arrays[f"y_{split}"].astype(np.int32)
