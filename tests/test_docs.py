"""Every python code block of the README and of docs/ runs as written (offline, in a fresh
folder; a document's blocks run in order in one process, as a reader runs them), and nothing
but `sketchjax` is installed at the top level."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        if "```python" in p.read_text()]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def run_blocks(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    code = "\n".join(python_blocks(path))
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)


def test_the_documents_with_code_are_found():
    assert {p.name for p in DOCS} >= {"README.md", "own_model.md"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_python_block_runs(doc, tmp_path):
    proc = run_blocks(doc, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if doc.name == "README.md":
        assert "('synflow', 'snip', 'grasp', 'magnitude', 'random', 'imp')" in proc.stdout
        assert "synflow bool (40, 300)" in proc.stdout
        assert len(list((tmp_path / "masks").glob("lenet_300_100_mnist1d_synflow_chi_*.npz"))) \
            == 1
        assert len(list((tmp_path / "runs").glob("*/seed_*/record.json"))) == 1
    if doc.name == "own_model.md":
        assert "['layers/0/kernel', 'layers/2/kernel']" in proc.stdout
        assert "['0/0', '1/0'] False" in proc.stdout


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
