"""Training: masked updates, schedule, learning offline, files, resume, vmapped seeds, sharding."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sketchjax import trees
from sketchjax import training as T
from sketchjax.errors import SketchjaxError
from sketchjax.masks import Mask
from sketchjax.models.registry import init_model

REPO = Path(__file__).resolve().parents[2]


def random_mask(params, density, seed=0):
    rng = np.random.default_rng(seed)
    return {p: (rng.random(np.shape(v)) < density).astype(np.float32)
            for p, v in trees.flatten(trees.prunable(params)).items()}


def run(model, dataset, config, *, stop_step=None, **plan_args):
    """plan_run + train, quietly."""
    return T.train(T.plan_run(model, dataset, config, **plan_args), stop_step=stop_step,
                   progress=False)


def max_abs_diff(a, b):
    fa, fb = trees.flatten(a), trees.flatten(b)
    assert fa.keys() == fb.keys()
    return max(float(np.max(np.abs(np.asarray(fa[k]) - np.asarray(fb[k])))) for k in fa)


# ----------------------------------------------------------------------------- masked updates


@pytest.mark.parametrize("optimizer,nesterov", [("sgd", False), ("sgd", True), ("adam", False)])
def test_pruned_weights_stay_exactly_zero_and_unpruned_ones_move(optimizer, nesterov):
    bundle = init_model("lenet_300_100", "digits", jax.random.key(0))
    flat_mask = random_mask(bundle.params, 0.3)
    config = T.TrainConfig(optimizer=optimizer, nesterov=nesterov,
                           lr=0.1 if optimizer == "sgd" else 1e-2, weight_decay=1e-2)
    tx = T.make_optimizer(config, steps_per_epoch=10)
    state = T.create_train_state(bundle.module, bundle.params, bundle.batch_stats,
                                 trees.unflatten(flat_mask), tx)
    start = jax.device_get(state.params)
    step = jax.jit(T.train_step)
    rng = np.random.default_rng(1)
    for _ in range(60):  # momentum and weight decay act on every entry for many steps
        batch = {"image": rng.normal(size=(32, 8, 8, 1)).astype(np.float32),
                 "label": rng.integers(0, 10, 32).astype(np.int32)}
        state, _ = step(state, batch)
    params = trees.flatten(jax.device_get(state.params))
    moved, alive = 0, 0
    for p, m in flat_mask.items():
        np.testing.assert_array_equal(params[p][m == 0], 0.0)  # exactly zero, not tiny
        alive += int(m.sum())
        moved += int(np.sum(params[p][m == 1] != trees.flatten(start)[p][m == 1]))
    assert moved > 0.99 * alive
    # Biases (not prunable) train normally.
    assert np.any(params["Dense_0/bias"] != 0)


def test_without_the_masked_transform_pruned_weights_drift():
    """The invariant above is not vacuous: plain SGD + decay revives pruned weights."""
    bundle = init_model("lenet_300_100", "digits", jax.random.key(0))
    flat_mask = random_mask(bundle.params, 0.3)
    params = trees.apply_mask(bundle.params, trees.unflatten(flat_mask))
    tx = optax.chain(optax.add_decayed_weights(1e-2), optax.sgd(0.1, momentum=0.9))
    opt = tx.init(params)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(32, 8, 8, 1)), jnp.float32)
    y = jnp.arange(32) % 10

    def loss(p):
        logits = bundle.module.apply({"params": p}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    updates, opt = tx.update(jax.grad(loss)(params), opt, params)
    params = optax.apply_updates(params, updates)
    leaked = sum(int(np.count_nonzero(np.asarray(trees.flatten(params)[p])[m == 0]))
                 for p, m in flat_mask.items())
    assert leaked > 0


def test_mask_updates_requires_the_mask():
    tx = T.mask_updates()
    with pytest.raises(ValueError, match="needs the mask"):
        tx.update({"a": jnp.ones(2)}, tx.init({"a": jnp.ones(2)}))


def test_scaled_mode_starts_from_weights_times_mask_values():
    bundle = init_model("lenet_300_100", "digits", jax.random.key(0))
    flat = random_mask(bundle.params, 0.5)
    values = {p: m * 2.5 for p, m in flat.items()}
    tx = T.make_optimizer(T.TrainConfig(), 10)
    binary = T.create_train_state(bundle.module, bundle.params, {}, trees.unflatten(values), tx)
    scaled = T.create_train_state(bundle.module, bundle.params, {}, trees.unflatten(values), tx,
                                  mask_mode="scaled")
    p0 = trees.flatten(bundle.params)
    k = "Dense_1/kernel"
    np.testing.assert_allclose(trees.flatten(binary.params)[k], p0[k] * flat[k])
    np.testing.assert_allclose(trees.flatten(scaled.params)[k], p0[k] * values[k], rtol=1e-6)
    np.testing.assert_array_equal(trees.flatten(scaled.mask)[k], flat[k])  # support only


def test_learning_rate_schedule_milestones_and_offset():
    config = T.TrainConfig(lr=0.1, milestones=(2, 3), gamma=0.1)
    sched = T.learning_rate_schedule(config, steps_per_epoch=10)
    got = [float(sched(t)) for t in (0, 19, 20, 29, 30, 99)]
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
    resumed = T.learning_rate_schedule(config, 10, step_offset=25)
    np.testing.assert_allclose([float(resumed(0)), float(resumed(5))], [0.01, 0.001], rtol=1e-6)


def test_paper_and_lenet_presets():
    paper = T.PRESETS["paper"]
    assert (paper.optimizer, paper.lr, paper.momentum, paper.weight_decay, paper.milestones,
            paper.epochs, paper.batch_size, paper.nesterov) == (
        "sgd", 0.1, 0.9, 1e-4, (80, 120), 160, 128, False)
    lenet = T.PRESETS["lenet"]
    assert (lenet.optimizer, lenet.lr, lenet.batch_size) == ("adam", 1.2e-3, 60)
    assert T.preset("paper", lr=0.05, milestones=[5]).milestones == (5,)


@pytest.mark.parametrize("change", [dict(optimizer="rmsprop"), dict(lr=0.0), dict(epochs=0),
                                    dict(mask_mode="soft"), dict(milestones=(0,)),
                                    dict(nesterov=True, optimizer="adam")])
def test_bad_config_values_raise(change):
    with pytest.raises(SketchjaxError):
        T.TrainConfig().replace(**change).validate()


# ----------------------------------------------------------------------------- learning offline


def test_lenet_learns_mnist1d_and_writes_all_run_files(tmp_path):
    # Measured (3 seeds): 5 epochs of the LeNet protocol reach 0.49-0.51 test accuracy;
    # chance is 0.10. Threshold 0.40.
    out = tmp_path / "run"
    result = run("lenet_300_100", "mnist1d", T.preset("lenet", epochs=5), out=out)
    record = json.loads((out / "seed_0" / "record.json").read_text())
    assert record == json.loads(json.dumps(result.records[0]))
    assert record["test_accuracy"] > 0.40
    assert record["best_test_accuracy"] >= record["test_accuracy"]
    assert record["epochs"] == 5 and record["realised_density"] == 1.0
    assert (record["method"], record["mask"]) == ("dense", None)
    assert json.loads((out / "config.json").read_text())["train"]["optimizer"] == "adam"
    assert record["train"]["optimizer"] == "adam" and len(record["history"]) == 5
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 6 and rows[0].startswith("seed,epoch,step,lr")
    assert len(json.loads((out / "metrics.json").read_text())) == 5
    assert list((out / "tensorboard" / "seed_0").glob("events.out.tfevents.*"))
    assert sorted(int(p.name) for p in (out / "checkpoints").iterdir()
                  if p.name.isdigit()) == [4 * 66, 5 * 66]  # the last 2 kept
    assert len(result.history) == 5


def test_cnn_learns_digits_with_a_mask_and_batchnorm():
    # resnet20 (BatchNorm) on the 8x8 digits, 50% random mask, 3 epochs of SGD:
    # measured 0.97-0.98 dense (3 seeds). Threshold 0.80; chance 0.10.
    bundle = init_model("resnet20", "digits", jax.random.key(0))
    mask = Mask(random_mask(bundle.params, 0.5), {"seed": 0, "model": "resnet20"})
    config = T.preset("paper", epochs=3, batch_size=64, lr=0.05, milestones=(),
                      eval_batch_size=360, checkpoint_every=0)
    result = run("resnet20", "digits", config, mask=mask)
    record, = result.records
    assert record["test_accuracy"] > 0.80
    assert record["pruned_weights_nonzero"] == 0
    assert abs(record["realised_density"] - 0.5) < 0.01
    # BatchNorm running statistics were updated in training mode.
    assert max_abs_diff(result.state.batch_stats, bundle.batch_stats) > 0


# ----------------------------------------------------------------------------- cifar10 mock

N_MOCK = 48


@pytest.fixture(scope="module")
def mock_cifar_dir(tmp_path_factory):
    """A data dir holding cifar10's dataset_info only, so tfds' mock sees it prepared."""
    from sketchjax.data.tf_loader import import_tfds
    tfds = import_tfds()
    root = tmp_path_factory.mktemp("tfds_meta")
    builder = tfds.builder("cifar10", data_dir=os.fspath(root))
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name="train", shard_lengths=[N_MOCK], num_bytes=0),
        tfds.core.SplitInfo(name="test", shard_lengths=[N_MOCK], num_bytes=0)]))
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)
    return tfds, root


@pytest.mark.tfds
def test_one_epoch_end_to_end_on_mock_cifar10(mock_cifar_dir, tmp_path):
    tfds, root = mock_cifar_dir
    bundle = init_model("lenet_300_100", "cifar10", jax.random.key(3))
    mask = Mask(random_mask(bundle.params, 0.2), {"seed": 3, "model": "lenet_300_100"})
    out = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=N_MOCK, data_dir=os.fspath(root)):
        result = run("lenet_300_100", "cifar10",
                     T.preset("paper", epochs=1, batch_size=16, eval_batch_size=20),
                     mask=mask, data_dir=root, out=out)
        # An independent evaluation of the final weights: apply the model to every test
        # example at once, in numpy order (no padding, no batching, no jit).
        from sketchjax.data.pipelines import eval_batches
        images = np.concatenate([b["image"] for b in eval_batches("cifar10", 7, root)])
        labels = np.concatenate([b["label"] for b in eval_batches("cifar10", 7, root)])
    logits = bundle.module.apply({"params": result.state.params}, images)
    correct = int(np.sum(np.argmax(np.asarray(logits), -1) == labels))
    summary, = result.records
    assert summary["steps"] == N_MOCK // 16 and summary["epochs"] == 1
    assert len(labels) == N_MOCK
    # The padded last eval batch (48 = 20 + 20 + 8) counts exactly the real examples.
    assert summary["test_accuracy"] == correct / N_MOCK
    assert summary["pruned_weights_nonzero"] == 0 and summary["init_seed"] == 3
    assert abs(summary["realised_density"] - 0.2) < 0.01
    assert (out / "seed_0" / "record.json").exists() and (out / "metrics.csv").exists()


# ----------------------------------------------------------------------------- resume, seeds


def test_killed_and_resumed_run_ends_with_the_same_parameters(tmp_path):
    config = T.preset("paper", epochs=3, milestones=(2,), lr=0.05)
    full = run("lenet_300_100", "mnist1d", config, out=tmp_path / "a")
    # "Killed" mid-epoch 2 (step 45 of 31-step epochs): only epoch 1 was checkpointed.
    stopped = run("lenet_300_100", "mnist1d", config, out=tmp_path / "b", stop_step=45)
    assert stopped.records is None and not (tmp_path / "b" / "seed_0" / "record.json").exists()
    with pytest.raises(SketchjaxError, match="pass --resume"):
        T.plan_run("lenet_300_100", "mnist1d", config, out=tmp_path / "a")
    with pytest.raises(SketchjaxError, match="other settings"):
        T.plan_run("lenet_300_100", "mnist1d", config.replace(lr=0.1), out=tmp_path / "b",
                   resume=True)
    resumed = run("lenet_300_100", "mnist1d", config, out=tmp_path / "b", resume=True)
    assert max_abs_diff(full.state.params, resumed.state.params) == 0.0
    for a, b in zip(jax.tree.leaves(full.state.opt_state), jax.tree.leaves(resumed.state.opt_state)):
        np.testing.assert_array_equal(a, b)  # momentum buffers and counts too
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert resumed.records[0]["test_accuracy"] == full.records[0]["test_accuracy"]
    assert len((tmp_path / "b" / "metrics.csv").read_text().splitlines()) == 4


def test_vmapped_seeds_equal_separate_runs():
    config = T.preset("lenet", epochs=2, checkpoint_every=0)
    bundle = init_model("lenet_300_100", "mnist1d", jax.random.key(7))
    mask = Mask(random_mask(bundle.params, 0.3), {"seed": 7, "model": "lenet_300_100"})
    together = run("lenet_300_100", "mnist1d", config, mask=mask, seeds=(0, 1))
    assert [r["init_seed"] for r in together.records] == [7, 7]  # two data orders
    for i, seed in enumerate((0, 1)):
        alone = run("lenet_300_100", "mnist1d", config, mask=mask, seeds=(seed,))
        row = jax.tree.map(lambda x: x[i], together.state.params)
        assert max_abs_diff(row, alone.state.params) < 1e-5
        assert abs(together.records[i]["test_accuracy"]
                   - alone.records[0]["test_accuracy"]) < 2e-3
    # Different data orders give different weights.
    assert max_abs_diff(jax.tree.map(lambda x: x[0], together.state.params),
                        jax.tree.map(lambda x: x[1], together.state.params)) > 1e-3


def test_one_mask_per_seed_stacked_equals_separate_runs():
    # The experiments' setting: seed s prunes its own initial weights and trains them.
    config = T.preset("lenet", epochs=1, checkpoint_every=0)
    masks = []
    for s in (3, 4):
        bundle = init_model("lenet_300_100", "mnist1d", jax.random.key(s))
        masks.append(Mask(random_mask(bundle.params, 0.2, seed=s), {"seed": s}))
    together = run("lenet_300_100", "mnist1d", config, mask=masks, seeds=(3, 4))
    assert [r["init_seed"] for r in together.records] == [3, 4]
    assert len({r["realised_density"] for r in together.records}) == 2
    for i, seed in enumerate((3, 4)):
        alone = run("lenet_300_100", "mnist1d", config, mask=masks[i], seeds=(seed,))
        assert max_abs_diff(jax.tree.map(lambda x: x[i], together.state.params),
                            alone.state.params) < 1e-5
        mask_i = jax.tree.map(lambda x: x[i], together.state.mask)
        assert max_abs_diff(mask_i, masks[i].binary()) == 0.0
    with pytest.raises(SketchjaxError, match="one per seed"):
        T.plan_run("lenet_300_100", "mnist1d", config, mask=masks, seeds=(3, 4, 5))


def test_runs_of_one_architecture_share_one_compiled_step():
    # Each run builds a new (equal) module; its bound `apply` must not make the jitted step
    # compile again (an IMP search ran out of executable memory after ~300 levels).
    config = T.preset("lenet", epochs=1, checkpoint_every=0)
    run("lenet_300_100", "digits", config)
    step, evaluate = T.compiled_steps(T.data_mesh(), False)
    sizes = step._cache_size(), evaluate._cache_size()
    run("lenet_300_100", "digits", config, seeds=(5,))
    assert (step._cache_size(), evaluate._cache_size()) == sizes
    run("lenet_300_100", "digits", config.replace(lr=1e-3))     # another recipe compiles anew
    assert step._cache_size() == sizes[0] + 1


def test_random_normal_training_data_is_deterministic_and_keyed_by_step():
    config = T.preset("lenet", epochs=1, checkpoint_every=0)
    a = run("lenet_300_100", "digits", config, data="normal")
    b = run("lenet_300_100", "digits", config, data="normal")
    assert max_abs_diff(a.state.params, b.state.params) == 0.0
    assert a.records[0]["data"] == "normal" and a.records[0]["test_accuracy"] < 0.5


# ----------------------------------------------------------------------------- sharding

_SHARDED_SCRIPT = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np, flax.linen as nn
    from jax.sharding import NamedSharding, PartitionSpec as P
    from sketchjax import training as T, trees
    assert len(jax.devices()) == 2, jax.devices()

    class TinyCNN(nn.Module):  # conv + BatchNorm, so batch statistics cross the shards
        @nn.compact
        def __call__(self, x, train=False):
            x = nn.Conv(8, (3, 3))(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
            return nn.Dense(10)(x.mean((1, 2)))

    module = TinyCNN()
    variables = module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    params, stats = variables["params"], variables["batch_stats"]
    mask = jax.tree.map(lambda k: (jax.random.uniform(jax.random.key(1), k.shape) < 0.5)
                        .astype(jnp.float32), trees.prunable(params))
    tx = T.make_optimizer(T.TrainConfig(), 10)
    rng = np.random.default_rng(0)
    batches = [{"image": rng.normal(size=(16, 8, 8, 1)).astype(np.float32),
                "label": rng.integers(0, 10, 16).astype(np.int32)} for _ in range(4)]
    results = {}
    for n in (1, 2):
        mesh = T.data_mesh(jax.devices()[:n])
        step, evaluate = T.compiled_steps(mesh, False)
        state = jax.device_put(T.create_train_state(module, params, stats, mask, tx),
                               NamedSharding(mesh, P()))
        for b in batches:
            state, metrics = step(state, T.put_batch(b, NamedSharding(mesh, P("data"))))
        if n == 2:
            assert len(state.params["Conv_0"]["kernel"].sharding.device_set) == 2
            assert state.params["Conv_0"]["kernel"].sharding.is_fully_replicated
        results[n] = jax.device_get((state.params, state.batch_stats, metrics))
    diff = max(float(np.max(np.abs(a - b))) for a, b in
               zip(jax.tree.leaves(results[1]), jax.tree.leaves(results[2])))
    print("MAXDIFF", diff)
    # The whole train() loop on 2 devices (compared with the parent's 1-device run).
    r = T.train(T.plan_run("lenet_300_100", "digits",
                           T.preset("lenet", epochs=1, checkpoint_every=0)), progress=False)
    assert r.records[0]["devices"] == 2
    np.savez(sys.argv[1], **trees.flatten(jax.device_get(r.state.params)))
""")


def test_sharded_step_equals_one_device_step(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    two = tmp_path / "two_devices.npz"
    proc = subprocess.run([sys.executable, "-c", _SHARDED_SCRIPT, str(two)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    diff = float(proc.stdout.split("MAXDIFF")[1])
    assert diff < 1e-5
    one = run("lenet_300_100", "digits", T.preset("lenet", epochs=1, checkpoint_every=0))
    assert one.records[0]["devices"] == 1
    with np.load(two) as sharded:
        for p, v in trees.flatten(jax.device_get(one.state.params)).items():
            np.testing.assert_allclose(sharded[p], v, atol=1e-5)


def test_offline_training_never_imports_tensorflow(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from sketchjax import training as T, imp  # noqa: F401
        T.train(T.plan_run("lenet_300_100", "digits", T.preset("lenet", epochs=1),
                           out={str(tmp_path)!r}), progress=False)
        assert "tensorflow" not in sys.modules, "tensorflow imported"
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list((tmp_path / "tensorboard" / "seed_0").glob("events.out.tfevents.*"))
