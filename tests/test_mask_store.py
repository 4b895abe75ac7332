"""Masks named by a hash of their full config: pinned names, skip, refuse, force."""
import dataclasses

import numpy as np
import pytest

from sketchjax.errors import SketchjaxError
from sketchjax.mask_store import MaskSpec, make_mask
from sketchjax.masks import save_mask
from sketchjax.methods import IMP, GraSP, SynFlow
from sketchjax.training import preset

SPEC = MaskSpec("lenet_300_100", "mnist1d", SynFlow(density=0.1, rounds=5, input="chi"))


def test_the_file_name_is_pinned():
    # A change of this name means every user's existing masks are recomputed: make it on
    # purpose (and say so), never by accident. (It changed once, when each method got its own
    # options: a SynFlow record no longer holds SNIP's loss or GraSP's temperature.)
    assert SPEC.validated().file_name() == \
        "lenet_300_100_mnist1d_synflow_chi_threshold_d0.1_seed0_26745829.npz"


def test_every_option_is_in_the_name():
    names = {SPEC.validated().file_name()}
    changes = (dict(rounds=6), dict(schedule="linear"), dict(seed=1), dict(density=0.2),
               dict(input_scaling=False), dict(selection="sketch"), dict(input="ones"),
               dict(selection="layerwise_sample", replacement=True), dict(distribution="erk"),
               dict(distribution="uniform", layer_density=(("Dense_0/*", 0.5),)))
    assert {f.name for f in dataclasses.fields(SynFlow)} == {k for c in changes for k in c}
    for change in changes:
        names.add(dataclasses.replace(SPEC, config=dataclasses.replace(SPEC.config, **change))
                  .validated().file_name())
    names.add(dataclasses.replace(SPEC, num_classes=5).validated().file_name())
    assert len(names) == 2 + len(changes)


def test_the_signed_score_weighting_names_only_the_masks_it_can_change():
    grasp = MaskSpec("lenet_300_100", "mnist1d", GraSP(density=0.1, data="normal",
                                                       selection="layerwise_sample"))
    shift = dataclasses.replace(grasp, config=dataclasses.replace(grasp.config,
                                                                  signed_weighting="shift"))
    names = [s.validated().file_name() for s in (grasp, shift)]
    assert "_layerwise_sample_d0.1" in names[0] and "_layerwise_sample_shift_d0.1" in names[1]
    assert grasp.validated().record()["config"]["signed_weighting"] == "positive"
    # It cannot change a thresholded mask or one of non-negative scores: not in their records.
    thresholded = dataclasses.replace(grasp, config=dataclasses.replace(
        shift.config, selection="threshold"))
    assert "signed_weighting" not in thresholded.validated().record()["config"]
    assert "signed_weighting" not in SPEC.validated().record()["config"]
    with pytest.raises(SketchjaxError, match="signed_weighting 'abs'"):
        dataclasses.replace(grasp.config, signed_weighting="abs").validated("lenet_300_100",
                                                                            "mnist1d")


def test_imp_defaults_resolve_before_hashing():
    # Writing the model's defaults explicitly names the same search.
    implicit = MaskSpec("lenet_300_100", "mnist1d", IMP(density=0.5, epochs=1))
    explicit = MaskSpec("lenet_300_100", "mnist1d", IMP(
        density=0.5, epochs=1, rewind_iters=0, output_layer="ignore", train=preset("lenet")))
    assert implicit.validated().file_name() == explicit.validated().file_name()
    assert implicit.validated().file_name().startswith(
        "lenet_300_100_mnist1d_imp_real_threshold_d0.5_seed0_")


def test_made_once_then_skipped_refused_for_another_config_and_forced(tmp_path):
    messages = []
    first = make_mask(SPEC, masks_dir=tmp_path, progress=False, log=messages.append)
    assert first.computed and first.path.parent == tmp_path
    assert first.mask.metadata["config_hash"] in first.path.name
    assert first.mask.metadata["config"]["config"]["rounds"] == 5
    again = make_mask(SPEC, masks_dir=tmp_path, progress=False, log=messages.append)
    assert not again.computed and messages == []
    for p, a in first.mask.arrays.items():
        np.testing.assert_array_equal(again.mask.arrays[p], a)
    other = dataclasses.replace(SPEC, config=dataclasses.replace(SPEC.config, density=0.2))
    with pytest.raises(SketchjaxError, match=r"another config \(differs in config\.density\)"):
        make_mask(other, out=first.path, progress=False)
    forced = make_mask(other, out=first.path, force=True, progress=False)
    assert forced.computed and forced.mask.metadata["density"] == 0.2


def test_a_file_without_a_config_record_is_not_taken_for_the_mask(tmp_path):
    made = make_mask(SPEC, masks_dir=tmp_path, progress=False)
    old = dict(made.mask.metadata)
    del old["config"]
    save_mask(made.path, dataclasses.replace(made.mask, metadata=old))
    with pytest.raises(SketchjaxError, match="no config record"):
        make_mask(SPEC, masks_dir=tmp_path, progress=False)
    made.path.write_bytes(b"not a zip")
    with pytest.raises(SketchjaxError, match="not a readable mask"):
        make_mask(SPEC, masks_dir=tmp_path, progress=False)
