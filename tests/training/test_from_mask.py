"""train_from_mask: the mask's metadata, the registry's preset and the rewind point make the
plan; overrides win; run folders are named by their settings."""
import json
import shutil

import jax
import numpy as np
import pytest

from sketchjax import trees
from sketchjax.errors import SketchjaxError
from sketchjax.masks import Mask, mask_metadata, save_mask
from sketchjax.models.registry import init_model
from sketchjax.training import TrainOverrides, plan_from_mask, train_from_mask
from sketchjax.training import train
from sketchjax.variables import load_variables, save_variables


@pytest.fixture(scope="module")
def lenet_mask(tmp_path_factory):
    bundle = init_model("lenet_300_100", "digits", jax.random.key(4))
    rng = np.random.default_rng(0)
    arrays = {p: (rng.random(np.shape(v)) < 0.5).astype(np.float32)
              for p, v in trees.flatten(trees.prunable(bundle.params)).items()}
    meta = mask_metadata(arrays, method="random", model="lenet_300_100", dataset="digits",
                         num_classes=10, input_shape=(8, 8, 1), seed=4, density=0.5)
    return save_mask(tmp_path_factory.mktemp("m") / "lenet.npz", Mask(arrays, meta)), bundle


def test_defaults_come_from_the_mask_and_the_registry(lenet_mask, tmp_path):
    path, _ = lenet_mask
    plan = plan_from_mask(path, TrainOverrides(runs_dir=tmp_path))
    assert (plan.model, plan.dataset, plan.seeds, plan.init_seeds) == (
        "lenet_300_100", "digits", (4,), (4,))
    assert plan.config.optimizer == "adam" and plan.record["preset"] == "lenet"
    assert plan.start_step == 0 and plan.variables_of(0) is None
    assert plan.paths.root.parent == tmp_path and plan.paths.root.name.startswith("lenet_")
    # Other settings, another folder; the same settings, the same folder.
    other = plan_from_mask(path, TrainOverrides(runs_dir=tmp_path, recipe={"lr": 1e-2}))
    assert other.paths.root != plan.paths.root and other.config.lr == 1e-2
    assert plan_from_mask(path, TrainOverrides(runs_dir=tmp_path)).paths == plan.paths
    sgd = plan_from_mask(path, TrainOverrides(runs_dir=tmp_path, preset="paper",
                                              seeds=(0, 1)))
    assert (sgd.config.optimizer, sgd.seeds, sgd.init_seeds) == ("sgd", (0, 1), (4, 4))


def test_an_imp_mask_starts_from_its_rewind_point(lenet_mask, tmp_path):
    path, bundle = lenet_mask
    from sketchjax.masks import load_mask
    mask = load_mask(path)
    theta_k = {"params": jax.tree.map(lambda p: p * 0 + 0.01, bundle.params),
               "batch_stats": {}}
    save_variables(tmp_path / "rewind.npz", theta_k)
    meta = dict(mask.metadata, rewind={"file": str(tmp_path / "rewind.npz"), "step": 22})
    imp_path = save_mask(tmp_path / "imp.npz", Mask(mask.arrays, meta))
    result = train_from_mask(imp_path, TrainOverrides(recipe={"epochs": 1}, out=tmp_path / "r",
                                                      runs_dir=tmp_path), progress=False)
    assert result.records[0]["start_step"] == 22
    # The schedule resumes at K: a 1-epoch run (23 steps of 60) ends at step 23, one step on.
    assert result.records[0]["steps"] == 1437 // 60 == 23
    plan = plan_from_mask(imp_path, TrainOverrides(rewind=False, runs_dir=tmp_path))
    assert plan.start_step == 0 and plan.variables_of(0) is None


def test_dense_runs_and_clear_errors(tmp_path):
    with pytest.raises(SketchjaxError, match="needs a model and a dataset"):
        plan_from_mask(None, TrainOverrides(model="lenet_300_100"))
    plan = plan_from_mask(None, TrainOverrides(model="lenet_300_100", dataset="digits",
                                               seeds=(2, 3), runs_dir=tmp_path))
    assert plan.masks == () and plan.init_seeds == (2, 3)
    assert plan.paths.root.name.startswith("lenet_300_100_digits_dense_")
    with pytest.raises(SketchjaxError, match="does not exist"):
        plan_from_mask(tmp_path / "none.npz")


def test_a_ticket_found_on_random_data_starts_from_theta0_whatever_its_file_names(tmp_path):
    from sketchjax.methods.imp import ticket_start
    from sketchjax.training import rewind_start
    save_variables(tmp_path / "rewind.npz", {"params": {"w": np.ones(3, np.float32)}})
    rewind = {"file": "rewind.npz", "step": 5}       # relative to the mask file's folder
    real = Mask({}, {"rewind": rewind, "inputs": {"data": "real"}})
    # An IMP mask written before random-data tickets started from theta_0 still names theta_K.
    noise = Mask({}, {"rewind": rewind, "inputs": {"data": "normal_fixed"}})
    step, variables = rewind_start([real], [tmp_path / "mask.npz"])
    assert step == 5 and np.array_equal(variables[0]["params"]["w"], np.ones(3))
    assert rewind_start([noise], [tmp_path / "mask.npz"]) == (0, ())
    # Files written by earlier versions name the rewind point by its absolute path.
    old = Mask({}, {"rewind": {"file": str(tmp_path / "rewind.npz"), "step": 5}})
    assert rewind_start([old], ["elsewhere/mask.npz"])[0] == 5
    with pytest.raises(SketchjaxError, match="rewind point .* is missing"):
        rewind_start([real], [tmp_path / "moved" / "mask.npz"])
    assert [ticket_start(d) for d in ("real", "normal", "normal_fixed")] == [
        "rewind", "init", "init"]


def test_a_copied_mask_trains_into_the_same_run_name(tmp_path):
    from sketchjax.mask_store import MaskSpec, make_mask
    from sketchjax.methods import Magnitude
    made = make_mask(MaskSpec("lenet_300_100", "mnist1d", Magnitude(density=0.3)),
                     masks_dir=tmp_path / "a", progress=False)
    (tmp_path / "b").mkdir()
    copy = tmp_path / "b" / made.path.name
    shutil.copy(made.path, copy)
    overrides = TrainOverrides(runs_dir=tmp_path / "runs", recipe={"epochs": 1})
    first = plan_from_mask(made.path, overrides)
    assert plan_from_mask(copy, overrides).paths.root == first.paths.root
    assert str(tmp_path) not in json.dumps(first.identity())


def test_an_imp_mask_moved_with_its_search_folder_still_trains(tmp_path):
    from sketchjax.mask_store import MaskSpec, make_mask
    from sketchjax.methods import IMP
    from sketchjax.training import preset
    config = IMP(density=0.7, epochs=1, rewind_iters=5, output_layer="ignore",
                 train=preset("lenet", batch_size=128))
    made = make_mask(MaskSpec("lenet_300_100", "mnist1d", config), masks_dir=tmp_path / "a",
                     progress=False, log=lambda s: None)
    assert made.mask.metadata["rewind"]["file"].endswith("/rewind.npz")
    assert not made.mask.metadata["rewind"]["file"].startswith("/")
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = tmp_path / "b" / made.path.name
    plan = plan_from_mask(moved, TrainOverrides(runs_dir=tmp_path / "runs", recipe={
        "epochs": 1, "eval_every": 0, "checkpoint_every": 0, "batch_size": 128}))
    assert plan.start_step == 5
    theta_k = load_variables(next((tmp_path / "b").glob("*_imp_*/rewind.npz")))
    np.testing.assert_array_equal(plan.init_variables[0]["params"]["Dense_0"]["kernel"],
                                  theta_k["params"]["Dense_0"]["kernel"])
    assert train(plan, progress=False).records[0]["steps"] == 4000 // 128    # trained to the end
