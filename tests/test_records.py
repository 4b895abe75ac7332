"""Records: stable hashes, differences by dotted name, JSON of numpy values."""
import json

import numpy as np

from sketchjax.records import canonical, config_differences, config_hash, write_json


def test_config_hash_is_pinned_and_order_free():
    record = {"b": [1, 2], "a": {"y": 0.1, "x": "s"}}
    assert config_hash(record) == "5ff9c5ed"
    assert config_hash({"a": {"x": "s", "y": 0.1}, "b": (1, 2)}) == "5ff9c5ed"
    assert config_hash({"a": {"x": "s", "y": 0.2}, "b": [1, 2]}) != "5ff9c5ed"


def test_config_differences_names_nested_entries_and_ignores_some():
    saved = {"model": "m", "train": {"lr": 0.1, "epochs": 5}, "seeds": [0, 1]}
    assert config_differences(saved, saved) == []
    now = {"model": "m", "train": {"lr": 0.2, "epochs": 9}, "seeds": (0, 1), "extra": 1}
    assert config_differences(saved, now) == ["extra", "train.epochs", "train.lr"]
    assert config_differences(saved, now, ignore=["train.epochs", "extra"]) == ["train.lr"]


def test_numpy_values_become_json(tmp_path):
    record = {"k": np.int64(3), "v": np.float32(0.5), "a": np.arange(2), "t": (1, 2)}
    assert canonical(record) == {"a": [0, 1], "k": 3, "t": [1, 2], "v": 0.5}
    write_json(tmp_path / "r.json", record)
    assert json.loads((tmp_path / "r.json").read_text()) == canonical(record)
