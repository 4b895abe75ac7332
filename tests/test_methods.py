"""The methods registry: one file adds a method (it prunes, is named, saved and offered by
prune.py), the flags come from the options, and the registry imports no jax."""
import argparse
import dataclasses
import subprocess
import sys
from typing import ClassVar

import numpy as np
import pytest

from sketchjax.cli import prune as prune_cli
from sketchjax import methods
from sketchjax.errors import SketchjaxError
from sketchjax.mask_store import MaskSpec, make_mask
from sketchjax.masks import load_mask
from sketchjax.methods.base import OneShot, ScoreInputs, option


@dataclasses.dataclass(frozen=True)
class Smallest(OneShot):
    """A toy method: keep the weights of smallest |theta| ** power."""
    name: ClassVar[str] = "smallest"
    power: float = option(1.0, "the exponent of |theta|", flag="--smallest-power")
    absolute: bool = option(True, "rank |theta| (else theta)")

    def score(self, x: ScoreInputs):
        import jax
        import jax.numpy as jnp

        from sketchjax import trees
        size = jnp.abs if self.absolute else (lambda w: w)
        return jax.tree.map(lambda w: -size(w) ** self.power, trees.prunable(x.params))


@pytest.fixture
def smallest():
    methods.register(Smallest)
    yield Smallest
    del methods.REGISTRY["smallest"]


def test_a_method_in_one_file_prunes_is_named_saved_and_offered(smallest, tmp_path, capsys):
    spec = MaskSpec("lenet_300_100", "mnist1d", smallest(density=0.2, power=2.0))
    made = make_mask(spec, masks_dir=tmp_path, progress=False)
    assert made.path.name.startswith("lenet_300_100_mnist1d_smallest_threshold_d0.2_seed0_")
    mask = load_mask(made.path)
    assert mask.metadata["config"]["method"] == "smallest"
    assert mask.metadata["config"]["config"]["power"] == 2.0
    magnitude = make_mask(MaskSpec("lenet_300_100", "mnist1d", methods.Magnitude(density=0.8)),
                          masks_dir=tmp_path, progress=False).mask
    for path, kept in mask.arrays.items():   # the smallest 20% are the complement of the top 80%
        np.testing.assert_array_equal(kept != 0, magnitude.arrays[path] == 0)
    help_text = prune_cli.build_parser().format_help()
    assert "smallest" in help_text and "--smallest-power" in help_text
    assert "--no-absolute" in help_text            # an option on by default: its off switch
    assert prune_cli.main(["--method", "smallest", "--smallest-power", "2", "--density", "0.2",
                           "--model", "lenet_300_100", "--dataset", "mnist1d", "--quiet",
                           "--out", str(tmp_path / "cli.npz")]) == 0
    for path, a in load_mask(tmp_path / "cli.npz").arrays.items():
        np.testing.assert_array_equal(a, mask.arrays[path])


def test_a_name_is_registered_once_and_every_option_declared():
    with pytest.raises(SketchjaxError, match="already registered"):
        methods.register(dataclasses.make_dataclass("Other", [], bases=(methods.SynFlow,),
                                                    frozen=True))
    bare = dataclasses.make_dataclass("Bare", [("k", int, 3)], bases=(OneShot,), frozen=True,
                                      namespace={"name": "bare"})
    with pytest.raises(SketchjaxError, match="declare k with option"):
        methods.register(bare)
    assert "bare" not in methods.REGISTRY


def test_flags_are_generated_from_the_options():
    actions = {a.option_strings[0]: a for a in prune_cli.build_parser()._actions
               if a.option_strings}
    # Every option of every method with a flag, once; shared options share one flag.
    for cls in methods.REGISTRY.values():
        for f in dataclasses.fields(cls):
            if f.metadata.get("cli"):
                flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
                assert actions[flag].dest == f.name, flag
                assert actions[flag].default is argparse.SUPPRESS   # each method's default
    assert actions["--chi-input"].const == "chi"
    assert set(actions["--data"].choices) == {"real", "normal", "sparse", "normal_fixed"}
    assert "(default: 200.0)" in actions["--grasp-temperature"].help
    args = prune_cli.build_parser().parse_args(["--method", "grasp", "--data", "normal"])
    assert prune_cli.spec_from_args(args).config == methods.GraSP(data="normal")


def test_options_are_checked_by_the_method():
    with pytest.raises(SketchjaxError, match="unknown snip loss 'l2'"):
        methods.SNIP(loss="l2").validated("lenet_300_100", "mnist1d")
    with pytest.raises(SketchjaxError, match="density must be in"):
        methods.IMP(density=0).validated("lenet_300_100", "mnist1d")
    with pytest.raises(SketchjaxError, match="synflow has no option"):
        methods.create("synflow", loss="l1")


def test_the_registry_imports_no_jax():
    code = ("import sys, sketchjax.methods, sketchjax.methods.flags; "
            "assert 'jax' not in sys.modules, 'jax imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
