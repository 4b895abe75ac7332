"""train.py: mask metadata drives the run; bad input -> one line, exit 2, nothing written."""
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from sketchjax.cli import train as train_cli
from sketchjax import trees
from sketchjax.masks import Mask, load_mask, mask_id, save_mask
from sketchjax.models.registry import init_model

REPO = Path(__file__).resolve().parents[2]


def make_mask(path, model="lenet_300_100", dataset="digits", seed=4, density=0.5):
    bundle = init_model(model, dataset, jax.random.key(seed))
    rng = np.random.default_rng(0)
    arrays = {p: rng.random(np.shape(v)) < density
              for p, v in trees.flatten(trees.prunable(bundle.params)).items()}
    meta = {"model": model, "dataset": dataset, "seed": seed,
            "num_classes": bundle.num_classes, "method": "random", "density": density}
    return save_mask(path, Mask(arrays, meta))


@pytest.fixture(scope="module")
def mask_file(tmp_path_factory):
    return make_mask(tmp_path_factory.mktemp("masks") / "lenet_digits.npz")


def error_of(capsys, argv):
    code = train_cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("sketchjax-train: error: ") and "\n" not in err, err
    return err


def test_trains_from_the_mask_metadata(mask_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli.main(["--mask", str(mask_file), "--epochs", "2", "--out", str(out),
                           "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and str(out / "seed_4" / "record.json") in printed
    record = json.loads((out / "seed_4" / "record.json").read_text())
    assert (record["model"], record["dataset"], record["seed"], record["init_seed"]) == (
        "lenet_300_100", "digits", 4, 4)
    assert record["train"]["optimizer"] == "adam"                   # auto preset: lenet
    assert record["mask_file"] == mask_file.name                    # a name, never a path
    assert record["mask"] == mask_id(load_mask(mask_file)) and record["method"] == "random"
    assert abs(record["realised_density"] - 0.5) < 0.02 and record["pruned_weights_nonzero"] == 0
    assert record["test_accuracy"] > 0.5                            # chance 0.1
    assert record["experiment"] is None
    # Resuming a finished run reports it again (its record as written, timings included);
    # starting over in its folder is refused.
    assert train_cli.main(["--mask", str(mask_file), "--epochs", "2", "--out", str(out),
                           "--quiet", "--resume"]) == 0
    assert json.loads((out / "seed_4" / "record.json").read_text()) == record
    capsys.readouterr()
    assert "--resume" in error_of(capsys, ["--mask", str(mask_file), "--epochs", "2",
                                           "--out", str(out)])


def test_flags_override_the_recipe_and_seeds_run_together(mask_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli.main(["--mask", str(mask_file), "--epochs", "1", "--optimizer", "sgd",
                           "--lr", "0.05", "--nesterov", "--milestones", "", "--batch-size",
                           "32", "--seeds", "0,1", "--mask-mode", "scaled", "--out", str(out),
                           "--quiet"]) == 0
    records = [json.loads((out / f"seed_{s}" / "record.json").read_text()) for s in (0, 1)]
    train = records[0]["train"]
    assert (train["optimizer"], train["lr"], train["nesterov"], train["milestones"],
            train["batch_size"], train["mask_mode"]) == ("sgd", 0.05, True, [], 32, "scaled")
    assert [r["seed"] for r in records] == [0, 1] and [r["group_seeds"] for r in records] == [2, 2]
    assert records[0]["mask_mode"] == "scaled"
    assert records[0]["test_accuracy"] != records[1]["test_accuracy"]   # two data orders


def test_dense_run_needs_model_and_dataset(capsys):
    assert "needs a model and a dataset" in error_of(capsys, ["--dense", "--model",
                                                             "lenet_300_100"])
    assert "give either --mask" in error_of(capsys, [])


def test_choices_are_the_library_names():
    from sketchjax import names
    actions = {a.dest: a for a in train_cli.build_parser()._actions}
    assert tuple(actions["model"].choices) == names.MODELS
    assert tuple(actions["dataset"].choices) == names.DATASETS
    assert tuple(actions["preset"].choices) == ("auto",) + names.PRESETS


def test_mask_for_another_model_or_dataset(mask_file, tmp_path, capsys):
    out = tmp_path / "never"
    err = error_of(capsys, ["--mask", str(mask_file), "--model", "resnet20", "--out", str(out)])
    assert "does not fit resnet20" in err
    err = error_of(capsys, ["--mask", str(mask_file), "--dataset", "mnist1d", "--out", str(out)])
    assert "made for lenet_300_100 on digits) does not fit lenet_300_100 on mnist1d" in err
    assert "Dense_0/kernel" in err                               # 64 inputs vs 40
    assert not out.exists()


def test_truncated_mask(mask_file, tmp_path, capsys):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(mask_file.read_bytes()[: mask_file.stat().st_size // 2])
    out = tmp_path / "never"
    err = error_of(capsys, ["--mask", str(broken), "--out", str(out)])
    assert "truncated or foreign" in err
    assert "does not exist" in error_of(capsys, ["--mask", str(tmp_path / "none.npz")])
    assert not out.exists()


def test_missing_dataset(tmp_path, capsys):
    out = tmp_path / "never"
    err = error_of(capsys, ["--dense", "--model", "lenet_300_100", "--dataset", "cifar10",
                            "--data-dir", str(tmp_path / "empty"), "--out", str(out)])
    assert "not prepared" in err and "mnist1d" in err
    assert not out.exists()


def test_unwritable_out(mask_file, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    err = error_of(capsys, ["--mask", str(mask_file), "--out", str(blocker / "run")])
    assert "not a folder" in err
    err = error_of(capsys, ["--mask", str(mask_file), "--out", str(blocker)])
    assert "not a folder" in err
    assert blocker.read_text() == "x"


def test_bad_recipe_values(mask_file, capsys):
    assert "lr" in error_of(capsys, ["--mask", str(mask_file), "--lr", "-1"])
    assert "--seed or --seeds" in error_of(capsys, ["--mask", str(mask_file), "--seed", "1",
                                                    "--seeds", "2,3"])


def test_distributed_flags_come_all_three_or_none(mask_file, tmp_path, capsys):
    # A lone --process-id was once ignored: the run trained as a single process.
    for flags in (["--process-id", "1"], ["--num-processes", "2"]):
        err = error_of(capsys, ["--mask", str(mask_file), "--out", str(tmp_path / "x"), *flags])
        assert "together" in err, err
    assert not (tmp_path / "x").exists()


def test_exit_status_and_stderr_in_a_real_process(tmp_path):
    other = make_mask(tmp_path / "linear_mask.npz", model="linear", dataset="digits")
    out = tmp_path / "never"
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--mask", str(other), "--model",
         "lenet_300_100", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path,
        timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 2
    errors = [l for l in proc.stderr.splitlines() if l.startswith("train.py: error:")]
    assert len(errors) == 1 and "does not fit lenet_300_100" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_a_missing_tfds_data_set_is_one_line_before_tensorflow_loads(tmp_path):
    # No TensorFlow start-up logs (a cuInit error looked like the failure) and no advice to
    # pass a flag that no command has.
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--dense", "--model", "lenet_300_100",
         "--dataset", "cifar10", "--data-dir", str(tmp_path / "empty")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("train.py: error: dataset "
                                                                   "'cifar10' is not prepared")
    assert "download=True" not in proc.stderr and "tfds build cifar10" in proc.stderr
