"""The README's library snippet runs as written (offline, in a fresh folder)."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_library_snippet_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Library"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "('synflow', 'snip', 'grasp', 'magnitude', 'random', 'imp')" in proc.stdout
    assert len(list((tmp_path / "masks").glob("lenet_300_100_mnist1d_synflow_chi_*.npz"))) == 1
    assert len(list((tmp_path / "runs").glob("*/seed_*/record.json"))) == 1


def test_no_generic_top_level_module_is_installed(tmp_path):
    # Outside the checkout only `sketchjax` imports: the commands live in sketchjax.cli and
    # sketchjax.experiments, never as top-level `prune`, `train`, `experiments` or `ntk`.
    for name in ("prune", "train", "experiments", "ntk"):
        proc = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path,
                              capture_output=True, text=True)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, name
    proc = subprocess.run([sys.executable, "-c", "import sketchjax.cli.train"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
