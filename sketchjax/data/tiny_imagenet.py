"""A tensorflow-datasets builder for Tiny-ImageNet, read from the official zip (no extraction).

Put `tiny-imagenet-200.zip` (http://cs231n.stanford.edu/tiny-imagenet-200.zip) in
`<data_dir>/downloads/manual/`; the first `sketchjax.data` call that needs it (or
`tfds.builder("tiny_imagenet", data_dir=...).download_and_prepare()` after importing this
module) builds the tfds files, with no network.

Layout read from the archive (root folder `tiny-imagenet-200/`):
- `wnids.txt`: the 200 class ids; label = the line's index in **file order** (not sorted).
- `train/<wnid>/images/*.JPEG`: 500 per class -> split "train".
- `val/images/*.JPEG` with `val/val_annotations.txt` (tab-separated: file, wnid, bbox) ->
  split "validation", which the pipelines use as the test split (the official test split has
  no labels and is not built).
Images are stored as the archive's JPEG bytes; a few are grayscale and decode to 3 channels.

Importing this module imports TensorFlow (after hiding the GPUs from it); `sketchjax.data`
imports it only when Tiny-ImageNet is asked for.
"""
from __future__ import annotations

import posixpath
import zipfile

from sketchjax.data.metadata import TINY_IMAGENET_ZIP
from sketchjax.data.tf_loader import import_tensorflow

import_tensorflow()
import tensorflow_datasets as tfds  # noqa: E402  (after the GPUs are hidden)
from etils import epath  # noqa: E402

ROOT = "tiny-imagenet-200"
NUM_CLASSES = 200
IMAGE_SHAPE = (64, 64, 3)


def read_wnids(zf: zipfile.ZipFile) -> list[str]:
    """The class ids in wnids.txt file order (label i = line i)."""
    wnids = zf.read(f"{ROOT}/wnids.txt").decode("utf-8").split()
    if not wnids or len(wnids) > NUM_CLASSES or len(set(wnids)) != len(wnids):
        raise ValueError(f"{ROOT}/wnids.txt must list 1..{NUM_CLASSES} distinct ids, "
                         f"found {len(wnids)} ({len(set(wnids))} distinct)")
    return wnids


def read_val_annotations(zf: zipfile.ZipFile) -> dict[str, str]:
    """{validation file name: wnid} from val/val_annotations.txt."""
    text = zf.read(f"{ROOT}/val/val_annotations.txt").decode("utf-8")
    rows = (line.split("\t") for line in text.splitlines() if line.strip())
    return {row[0]: row[1] for row in rows}


class TinyImagenet(tfds.core.GeneratorBasedBuilder):
    """Tiny-ImageNet-200: 64x64 RGB, 200 classes, 100,000 train / 10,000 validation images."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Train and validation splits read from tiny-imagenet-200.zip."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Download {TINY_IMAGENET_ZIP} from http://cs231n.stanford.edu/{TINY_IMAGENET_ZIP} "
        "and place it, unextracted, in the manual dir (default: <data_dir>/downloads/manual/).")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="Tiny-ImageNet-200; label = index of the wnid in wnids.txt file order.",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=IMAGE_SHAPE, encoding_format="jpeg"),
                "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                "wnid": tfds.features.Text(),
                "file_name": tfds.features.Text(),
            }),
            supervised_keys=("image", "label"),
            homepage="http://cs231n.stanford.edu/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        path = dl_manager.manual_dir / TINY_IMAGENET_ZIP
        if not path.exists():
            raise FileNotFoundError(f"{path} not found. {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        return {
            "train": self._generate_examples(path, "train"),
            "validation": self._generate_examples(path, "validation"),
        }

    def _generate_examples(self, path: epath.Path, split: str):
        with epath.Path(path).open("rb") as f, zipfile.ZipFile(f) as zf:
            wnids = read_wnids(zf)
            label_of = {wnid: i for i, wnid in enumerate(wnids)}
            if split == "train":
                items = []
                for name in zf.namelist():
                    parts = name.split("/")
                    # tiny-imagenet-200/train/<wnid>/images/<file>.JPEG
                    if (len(parts) == 5 and parts[0] == ROOT and parts[1] == "train"
                            and parts[3] == "images" and parts[4].upper().endswith(".JPEG")):
                        if parts[2] not in label_of:
                            raise ValueError(f"{name}: class {parts[2]} is not in wnids.txt")
                        items.append((name, parts[2]))
            else:
                annotations = read_val_annotations(zf)
                items = []
                for file_name, wnid in annotations.items():
                    if wnid not in label_of:
                        raise ValueError(f"val_annotations.txt: {file_name} has class {wnid}, "
                                         "which is not in wnids.txt")
                    items.append((f"{ROOT}/val/images/{file_name}", wnid))
            for name, wnid in sorted(items):
                yield name, {
                    "image": zf.read(name),
                    "label": label_of[wnid],
                    "wnid": wnid,
                    "file_name": posixpath.basename(name),
                }
