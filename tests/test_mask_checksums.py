"""The mask arrays of the README's main job and of the cpu scale's columns, pinned by checksum.

Each column of the cpu scale at 10% density, seed 0 (IMP: its 10-epoch levels on MNIST-1D),
and the main job. A refactor of how methods are configured, named or dispatched must not move
a single kept weight: each mask is recomputed from its config and its arrays (every layer's
path, dtype, shape and bytes) hashed. The pins were computed on XLA:CPU (x86-64) with the stack
of constraints.txt and match the masks earlier versions wrote; a failure prints the new digest.
Another jax/XLA rounds the scores differently and flips near-ties, so the pins hold on that stack
only; elsewhere they are skipped with the reason.
"""
import hashlib
import re
from pathlib import Path

import jax
import jaxlib
import numpy as np
import pytest

from sketchjax.experiments.presets import SCALE_PRESETS, TABLE_COLUMNS, mask_config
from sketchjax.mask_store import MaskSpec, make_mask
from sketchjax.methods import SynFlow


def digest(arrays) -> str:
    """sha256 over the sorted layers' path, dtype, shape and bytes; 16 hex digits."""
    h = hashlib.sha256()
    for path in sorted(arrays):
        a = np.ascontiguousarray(arrays[path])
        h.update(f"{path}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _cpu_columns():
    """(table, column) of every column of the cpu scale that prunes, once each."""
    seen = set()
    for table in SCALE_PRESETS["cpu"].settings:
        for column in TABLE_COLUMNS[table]:
            if column.method != "dense" and column.name not in seen:
                seen.add(column.name)
                yield table, column


def _pinned_stack() -> dict[str, str]:
    text = (Path(__file__).resolve().parents[1] / "constraints.txt").read_text()
    return dict(re.findall(r"^(jax|jaxlib)==(\S+)$", text, re.M))


_STACK = {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
pytestmark = pytest.mark.skipif(
    _STACK != _pinned_stack(), reason=f"the pins are of jax/jaxlib {_pinned_stack()} "
    f"(constraints.txt); this is {_STACK}")


PINNED = {
    'cpu SynFlow': 'a7872ca2c521fa8b',
    'cpu SynFlow + chi': '8c922041514a612f',
    'cpu SynFlow + rand. mask': 'ea083c1fb8b39092',
    'cpu SynFlow + rand. mask + chi': '92600704e357c648',
    'cpu SNIP + normal data': 'cdf4e48bdb4cb624',
    'cpu SNIP + rand. mask + normal data': '031f668fc5a0a8d7',
    'cpu SNIP + sparse data': 'bd860ede14de51ee',
    'cpu SNIP + sparse data + rand. mask': 'e8b0e8567241466a',
    'cpu Random': 'c40d41e119e81036',
    'cpu Magnitude': 'b47b19243f5dbe1f',
    'cpu GraSP (supervised)': '3bdae2400e8409f3',
    'cpu GraSP + normal data': '4e06ba99e9b3185f',
    'cpu GraSP + normal data + rand. mask': '29209b775efbaa63',
    'cpu IMP (supervised)': '88a3d7e2a72e1156',
    'cpu IMP + rand. data': 'f131dbc13279ead4',
    'cpu IMP + rand. data + rand. mask': 'd6f08d244ac309cf',
    'cpu SNIP (supervised)': 'a3358098e6071242',
    'cpu GraSP + normal data + rand. mask (shift)': '5b24d3e298b2ecb5',
    'cpu GraSP + normal data + rand. mask (rank)': '9c7fc5619c95883a',
    'main job': '5803c43429244a71',
}

CPU_CASES = [(table, column.name) for table, column in _cpu_columns()]


@pytest.mark.parametrize("table,name", CPU_CASES)
def test_cpu_scale_masks_are_unchanged(tmp_path, table, name):
    scale = SCALE_PRESETS["cpu"]
    column = next(c for c in TABLE_COLUMNS[table] if c.name == name)
    model, dataset = scale.settings[table][0]
    config = mask_config(column, scale, model, 0.1, 0)
    mask = make_mask(MaskSpec(model, dataset, config), masks_dir=tmp_path, progress=False,
                     log=lambda s: None).mask
    assert digest(mask.arrays) == PINNED[f"cpu {name}"]


def test_the_main_job_mask_is_unchanged(tmp_path):
    """prune.py --method synflow --chi-input: VGG-19 (BN), CIFAR-10, 10%, 100 rounds."""
    config = SynFlow(input="chi")
    mask = make_mask(MaskSpec("vgg19_bn", "cifar10", config), masks_dir=tmp_path,
                     progress=False, log=lambda s: None).mask
    assert digest(mask.arrays) == PINNED["main job"]
