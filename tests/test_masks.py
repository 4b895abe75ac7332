"""Mask files: numpy-readable, atomic, validated, clear errors."""
import json
import os

import numpy as np
import pytest

from sketchjax import masks
from sketchjax.errors import SketchjaxError
from sketchjax.models.registry import init_model

import jax


@pytest.fixture(scope="module")
def lenet():
    return init_model("lenet_300_100", "mnist", jax.random.key(0))


def _mask(bundle, value=1.0):
    from sketchjax import trees
    arrays = {p: np.full(np.shape(a), value, np.float32)
              for p, a in trees.flatten(trees.prunable(bundle.params)).items()}
    arrays["Dense_0/kernel"][:100] = 0
    return masks.Mask(arrays, {"model": "lenet_300_100", "method": "magnitude"})


def test_roundtrip_and_readable_with_numpy_alone(tmp_path, lenet):
    path = masks.save_mask(tmp_path / "m.npz", _mask(lenet))
    with np.load(path, allow_pickle=False) as npz:
        record = json.loads(bytes(npz["__metadata__"]).decode())
        assert npz["Dense_0/kernel"].dtype == bool          # binary masks stored compactly
    assert record["model"] == "lenet_300_100" and record["format"] == masks.FORMAT
    loaded = masks.load_mask(path)
    assert set(loaded.arrays) == {"Dense_0/kernel", "Dense_1/kernel", "Dense_2/kernel"}
    assert loaded.arrays["Dense_0/kernel"][:100].sum() == 0
    masks.validate_mask(loaded, lenet.params)
    assert os.listdir(tmp_path) == ["m.npz"]                  # no temporary left behind


def test_sketch_values_are_kept_as_float(tmp_path, lenet):
    path = masks.save_mask(tmp_path / "m.npz", _mask(lenet, 2.5))
    assert masks.load_mask(path).arrays["Dense_1/kernel"][0, 0] == 2.5


def test_truncated_foreign_and_missing_files_fail_clearly(tmp_path, lenet):
    path = masks.save_mask(tmp_path / "m.npz", _mask(lenet))
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SketchjaxError, match="truncated or foreign"):
        masks.load_mask(tmp_path / "cut.npz")
    np.savez(tmp_path / "foreign.npz", x=np.ones(3))
    with pytest.raises(SketchjaxError, match="not a sketchjax mask"):
        masks.load_mask(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(SketchjaxError):
        masks.load_mask(tmp_path / "text.npz")
    with pytest.raises(SketchjaxError, match="does not exist"):
        masks.load_mask(tmp_path / "nope.npz")


def test_mask_for_another_model_is_rejected(tmp_path):
    resnet = init_model("resnet20", "cifar10", jax.random.key(0))
    lenet = init_model("lenet_300_100", "mnist", jax.random.key(0))
    with pytest.raises(SketchjaxError, match="does not fit"):
        masks.validate_mask(_mask(lenet), resnet.params, "resnet20")
    other = init_model("lenet_300_100", "cifar10", jax.random.key(0))   # 3072 inputs
    with pytest.raises(SketchjaxError, match="shape of Dense_0/kernel"):
        masks.validate_mask(_mask(lenet), other.params)


def test_metadata_counts_and_the_layer_table_in_natural_order():
    arrays = {f"Conv_{i}/kernel": np.zeros((3, 4), np.float32) for i in (0, 1, 2, 10, 11)}
    arrays["Conv_10/kernel"][0] = 1                                    # 4 of 12 kept
    arrays["Dense_0/kernel"] = np.ones((2, 5), np.float32)
    meta = masks.mask_metadata(arrays, method="magnitude", model="m", dataset="d",
                               num_classes=10, input_shape=(8, 8, 1), seed=3, density=0.2,
                               extra="x")
    assert (meta["kept"], meta["prunable"], meta["per_layer"]["Conv_10/kernel"]["kept"]) == (
        14, 70, 4)
    assert meta["realised_density"] == 14 / 70 and meta["extra"] == "x"
    assert set(meta["versions"]) == {"sketchjax", "jax", "flax", "optax"}
    rows = [line.split()[0]
            for line in masks.layer_table(masks.MaskInfo.read(meta)).splitlines()[1:]]
    assert rows == ["Conv_0/kernel", "Conv_1/kernel", "Conv_2/kernel", "Conv_10/kernel",
                    "Conv_11/kernel", "Dense_0/kernel", "total"]


def test_the_metadata_reads_typed_whatever_it_holds():
    arrays = {"Dense_0/kernel": np.array([[1, 0], [0, 0]], np.float32)}
    meta = masks.mask_metadata(arrays, method="imp", model="m", dataset="d", num_classes=10,
                               input_shape=(2,), seed=3, density=0.25,
                               inputs={"data": "normal_fixed"}, ticket_start="init",
                               rewind={"file": "s/rewind.npz", "step": 7},
                               imp={"pruned_density": 0.5})
    info = masks.MaskInfo.read(meta)
    assert (info.method, info.model, info.seed, info.kept, info.prunable) == ("imp", "m", 3, 1, 4)
    assert info.realised_density == 0.25 and info.pruned_density == 0.5
    assert info.data == "normal_fixed" and info.rewind == masks.Rewind("s/rewind.npz", 7)
    empty = masks.Mask(arrays, {}).info          # a mask made by hand reads with defaults
    assert (empty.seed, empty.data, empty.rewind, empty.pruned_density) == (0, "real", None, None)
