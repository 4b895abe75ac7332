"""prune.py end to end: offline run, the table it prints, masks named by their config and
never recomputed, clear errors with nothing written."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sketchjax.cli import prune as prune_cli
from sketchjax import methods, names

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / "prune.py"), *args], capture_output=True,
                          text=True, cwd=cwd or ROOT)


def test_offline_synflow_chi_run_writes_a_mask_and_prints_the_table(tmp_path):
    out = tmp_path / "m.npz"
    r = _run("--method", "synflow", "--chi-input", "--model", "lenet_300_100", "--dataset",
             "mnist1d", "--density", "0.05", "--rounds", "20", "--selection",
             "layerwise_sample", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    with np.load(out, allow_pickle=False) as npz:
        kept = sum(int(npz[k].sum()) for k in npz.files if k != "__metadata__")
    n = 40 * 300 + 300 * 100 + 100 * 10
    assert kept == n - int(0.95 * n)
    r = _run("--method", "magnitude", "--model", "lenet_300_100", "--dataset", "mnist1d",
             "--out", str(tmp_path / "mag.npz"))
    assert r.returncode == 0, r.stderr
    assert "Dense_0/kernel" in r.stdout and "total" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["--density", "0"], "density must be in (0, 1]"),
    (["--density", "1.5"], "density must be in (0, 1]"),
    (["--model", "alexnet"], "invalid choice"),
    (["--dataset", "imagenet"], "invalid choice"),
    (["--method", "imp", "--data", "sparse"], "unknown imp data 'sparse'"),
    (["--method", "imp", "--replacement"], "--replacement does not apply to --method imp"),
    (["--method", "synflow", "--snip-loss", "l1"], "--snip-loss does not apply"),
    (["--method", "obd"], "invalid choice"),
    (["--method", "snip", "--data", "real", "--dataset", "cifar10", "--data-dir", "EMPTY"],
     "not prepared"),
    (["--out", "BLOCKED/sub/m.npz"], "cannot write"),
])
def test_bad_input_is_one_message_exit_2_and_nothing_written(tmp_path, args, message):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "BLOCKED").write_text("a file, not a folder")
    args = [a.replace("EMPTY", str(tmp_path / "EMPTY")).replace("BLOCKED", str(tmp_path / "BLOCKED"))
            for a in args]
    r = _run("--model", "lenet_300_100", "--dataset", "mnist1d", *args, cwd=tmp_path) \
        if "--model" not in args and "--dataset" not in args else _run(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "masks").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BLOCKED", "EMPTY"]


def test_choices_are_the_library_names():
    actions = {a.dest: a for a in prune_cli.build_parser()._actions}
    assert tuple(actions["model"].choices) == names.MODELS
    assert tuple(actions["dataset"].choices) == names.DATASETS
    assert tuple(actions["method"].choices) == methods.method_names()
    assert tuple(actions["selection"].choices) == names.SELECTIONS


def test_masks_are_named_by_config_skipped_when_present_and_never_overwritten(tmp_path, capsys):
    base = ["--method", "magnitude", "--model", "lenet_300_100", "--dataset", "mnist1d",
            "--density", "0.3", "--quiet"]
    assert prune_cli.main(base + ["--out", str(tmp_path / "a.npz")]) == 0
    first = (tmp_path / "a.npz").stat().st_mtime_ns
    capsys.readouterr()
    # The same config again: skipped, the file untouched.
    assert prune_cli.main(base + ["--out", str(tmp_path / "a.npz")]) == 0
    assert "skipped" in capsys.readouterr().out
    assert (tmp_path / "a.npz").stat().st_mtime_ns == first
    # Another config to the same name: refused, the file untouched.
    assert prune_cli.main(base + ["--density", "0.2", "--out", str(tmp_path / "a.npz")]) == 2
    err = capsys.readouterr().err
    assert "another config" in err and "config.config.density" not in err
    assert "density" in err and (tmp_path / "a.npz").stat().st_mtime_ns == first
    # --force recomputes and replaces.
    assert prune_cli.main(base + ["--density", "0.2", "--out", str(tmp_path / "a.npz"),
                                  "--force"]) == 0
    with np.load(tmp_path / "a.npz") as npz:
        kept = sum(int(npz[k].sum()) for k in npz.files if k != "__metadata__")
    assert kept == 43000 - int(0.8 * 43000)


def test_default_names_differ_for_configs_the_old_names_confused(tmp_path, monkeypatch):
    # rounds and schedule were not part of the old default name.
    monkeypatch.chdir(tmp_path)
    base = ["--method", "synflow", "--model", "lenet_300_100", "--dataset", "mnist1d", "--quiet"]
    assert prune_cli.main(base + ["--rounds", "3"]) == 0
    assert prune_cli.main(base + ["--rounds", "4"]) == 0
    assert prune_cli.main(base + ["--rounds", "4", "--schedule", "linear"]) == 0
    files = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert len(files) == 3
    assert all(f.startswith("lenet_300_100_mnist1d_synflow_threshold_d0.1_seed0_") for f in files)


def test_unwritable_out_fails_before_pruning(tmp_path, capsys):
    # root may write anywhere os.access says; /proc still refuses new files.
    assert prune_cli.main(["--model", "resnet20", "--out", "/proc/x.npz", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sketchjax-prune: error: cannot write") and "Traceback" not in err


def test_a_log_gets_no_progress_bar_and_empty_layers_a_warning(tmp_path):
    # stderr is a pipe, not a terminal: no carriage-return bars in it. A density far below
    # 1/N empties whole layers: the mask is written, with one warning line naming them.
    r = _run("--method", "synflow", "--model", "lenet_300_100", "--dataset", "mnist1d",
             "--rounds", "5", "--density", "1e-9", "--out", str(tmp_path / "m.npz"))
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "\r" not in r.stdout
    warning = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("prune.py: warning: "), r.stderr
    assert "of 3 pruned layers keep no weight" in warning[0] and "Dense_2/kernel" in warning[0]


def test_help_states_each_default_once():
    text = prune_cli.build_parser().format_help()
    entries = text.split("\n  -")[1:]
    assert entries and all(e.count("default") <= 1 for e in entries), text
