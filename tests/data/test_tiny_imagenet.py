"""The Tiny-ImageNet builder on a small fake archive with the official layout."""
import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from sketchjax.data import pipelines as P
from sketchjax.data import tf_loader
from sketchjax.data.metadata import TINY_IMAGENET_ZIP

pytestmark = pytest.mark.tfds    # TensorFlow and tensorflow-datasets: the tfds extra

ROOT = "tiny-imagenet-200"
WNIDS = ["n09999999", "n01111111", "n05555555"]  # file order, deliberately not sorted
PER_CLASS = 4
# validation file -> wnid (labels deliberately not in class blocks)
VAL = {f"val_{i}.JPEG": WNIDS[c] for i, c in enumerate([2, 0, 1, 1, 2, 0])}
GRAY = f"{ROOT}/train/{WNIDS[1]}/images/{WNIDS[1]}_3.JPEG"


def colour(label):
    """A solid colour per label, far apart so that JPEG noise cannot confuse them."""
    return (40 + 80 * label, 200 - 70 * label, 60 + 50 * label)


def jpeg(label, gray=False):
    img = Image.new("RGB", (64, 64), colour(label))
    if gray:
        img = img.convert("L")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def make_zip(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{ROOT}/wnids.txt", "\n".join(WNIDS) + "\n")
        zf.writestr(f"{ROOT}/words.txt", "".join(f"{w}\tthing {w}\n" for w in WNIDS))
        for label, wnid in enumerate(WNIDS):
            zf.writestr(f"{ROOT}/train/{wnid}/{wnid}_boxes.txt", "")
            for k in range(PER_CLASS):
                name = f"{ROOT}/train/{wnid}/images/{wnid}_{k}.JPEG"
                zf.writestr(name, jpeg(label, gray=name == GRAY))
        rows = "".join(f"{f}\t{w}\t0\t0\t63\t63\n" for f, w in VAL.items())
        zf.writestr(f"{ROOT}/val/val_annotations.txt", rows)
        for f, w in VAL.items():
            zf.writestr(f"{ROOT}/val/images/{f}", jpeg(WNIDS.index(w)))
        zf.writestr(f"{ROOT}/test/images/test_0.JPEG", jpeg(0))  # unlabelled: ignored


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data dir whose manual dir holds the fake zip, built through the pipelines API."""
    root = tmp_path_factory.mktemp("tiny")
    manual = root / "downloads" / "manual"
    manual.mkdir(parents=True)
    make_zip(manual / TINY_IMAGENET_ZIP)
    assert P.num_examples("tiny_imagenet", "train", root) == len(WNIDS) * PER_CLASS  # builds
    return root


def split_examples(data_dir, split):
    tfds = tf_loader.import_tfds()
    builder = tfds.builder("tiny_imagenet", data_dir=os.fspath(data_dir))
    assert builder.is_prepared() and str(builder.version) == "1.0.0"
    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


def label_from_pixels(image):
    means = image.reshape(-1, 3).mean(0)
    return int(np.argmin([np.abs(means - np.array(colour(c))).sum() for c in range(3)]))


def test_validation_labels_follow_val_annotations(data_dir):
    examples = split_examples(data_dir, "validation")
    assert len(examples) == len(VAL)
    seen = set()
    for ex in examples:
        name = ex["file_name"].decode()
        wnid = VAL[name]
        assert ex["wnid"].decode() == wnid
        assert ex["label"] == WNIDS.index(wnid)  # index in wnids.txt file order
        assert label_from_pixels(ex["image"]) == ex["label"]
        seen.add(name)
    assert seen == set(VAL)


def test_train_labels_and_grayscale_image(data_dir):
    examples = split_examples(data_dir, "train")
    assert len(examples) == len(WNIDS) * PER_CLASS
    counts = np.bincount([ex["label"] for ex in examples], minlength=len(WNIDS))
    assert counts.tolist() == [PER_CLASS] * len(WNIDS)
    for ex in examples:
        assert ex["image"].shape == (64, 64, 3) and ex["image"].dtype == np.uint8
        assert ex["wnid"].decode() == WNIDS[ex["label"]]
        if ex["file_name"].decode() == os.path.basename(GRAY):
            img = ex["image"].astype(int)
            assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
        else:
            assert label_from_pixels(ex["image"]) == ex["label"]


def test_pipelines_serve_tiny_imagenet(data_dir):
    assert P.num_examples("tiny_imagenet", "test", data_dir) == len(VAL)  # = validation
    evals = list(P.eval_batches("tiny_imagenet", 4, data_dir))
    assert [len(b["label"]) for b in evals] == [4, 2]
    labels = np.concatenate([b["label"] for b in evals])
    assert sorted(labels.tolist()) == sorted(WNIDS.index(w) for w in VAL.values())
    batches = list(P.train_batches("tiny_imagenet", 5, seed=0, data_dir=data_dir, num_epochs=1))
    assert len(batches) == 2
    assert batches[0]["image"].shape == (5, 64, 64, 3) and batches[0]["image"].dtype == np.float32
    x, y = P.prune_batch("tiny_imagenet", 6, seed=0, data_dir=data_dir)
    assert x.shape == (6, 64, 64, 3) and y.dtype == np.int32
