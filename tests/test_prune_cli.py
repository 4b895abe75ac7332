"""prune.py end to end: offline run, the table it prints, clear errors with nothing written."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
    (["--model", "alexnet"], "valid models: vgg19_bn"),
    (["--dataset", "imagenet"], "valid datasets: cifar10"),
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
