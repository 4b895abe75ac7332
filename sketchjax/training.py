"""Training with masks: config, TrainState, masked optax chain, jitted steps, the run loop.

The recipe (methods spec, section 5; the paper = OpenLTH defaults) is `TrainConfig()`: SGD with
momentum 0.9, weight decay 1e-4 on every parameter (added to the gradient, as PyTorch does),
lr 0.1 divided by 10 at epochs 80 and 120, 160 epochs, batch 128. `PRESETS["lenet"]` is the
lottery-ticket LeNet protocol (Adam, lr 1.2e-3, batch 60, 50 epochs, no decay).

Pruned weights stay exactly 0 for the whole run: params start as params * mask and the last
transform of the optax chain (`mask_updates`) zeroes the update of every pruned entry, after
momentum and weight decay have been applied, so p + u = 0 + 0 at every step.

One run = one model, one dataset, one mask (or none) and one or more training seeds. Several
seeds are trained together by `jax.vmap` of the step (one compiled program; each seed sees its
own data order). Every local device takes part: a 1-D `Mesh` over `jax.devices()`, the batch
sharded along its batch axis, the state replicated; XLA inserts the gradient all-reduce.
Multi-host runs call `jax.distributed.initialize()` first (docs/training.md).

Determinism: the batches of epoch e come from `train_batches(seed, start_epoch=e)` and the
random-data variant draws batch t from `fold_in(key(seed), t)`; checkpoints are taken at epoch
boundaries, so a run killed anywhere and resumed from its latest checkpoint ends with the same
parameters as an uninterrupted run.

Files of a run (`RunPaths`): config.json, metrics.csv, metrics.json, tensorboard/ (event
files), checkpoints/ (orbax, last `keep_checkpoints` kept), summary.json (written last).
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from sketchjax import trees
from sketchjax.atomic import atomic_write_text
from sketchjax.errors import SketchjaxError, check_choice
from sketchjax.masks import Mask, density_summary, validate_mask

OPTIMIZERS = ("sgd", "adam")
MASK_MODES = ("binary", "scaled")
TRAIN_DATA = ("real", "normal")
DATA_AXIS = "data"
_NORMAL_STREAM = 2  # fold_in tag of the random-data stream (0, 1 are the data layer's)
# Fields that may differ when a run is resumed (they do not change the trajectory).
_RESUMABLE_CHANGES = ("epochs", "eval_every", "eval_batch_size", "log_every",
                      "checkpoint_every", "keep_checkpoints")
# Train-split sizes, used only for random-data training when the real set is not on disk.
_KNOWN_TRAIN_SIZES = {"cifar10": 50000, "cifar100": 50000, "tiny_imagenet": 100000,
                      "mnist": 60000, "fashion_mnist": 60000}


# ----------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train. Defaults are the paper's recipe; every value can be overridden.

    Attributes:
      optimizer: "sgd" (momentum, optional nesterov) or "adam" (PyTorch's Adam: L2 decay
        added to the gradient, eps outside the square root).
      lr: initial learning rate.
      momentum: SGD momentum (0 = plain SGD).
      nesterov: Nesterov momentum (PyTorch semantics; optax's are the same).
      adam_b1, adam_b2, adam_eps: Adam's constants.
      weight_decay: L2 coefficient added to the gradient of every parameter (BN and biases
        included, as the reference).
      milestones: epochs at which the lr is multiplied by `gamma`.
      gamma: the lr factor at each milestone.
      epochs: length of the run in epochs (steps per epoch = train examples // batch).
      batch_size: global batch size (split over the devices).
      augment: the dataset's training augmentation (crop + flip on CIFAR/Tiny-ImageNet).
      mask_mode: "binary" (train the support of the mask from the initial weights) or
        "scaled" (initial weights multiplied by the mask values, then the support trained).
      eval_every: evaluate on the test split every this many epochs (0 = only at the end;
        the last epoch is always evaluated).
      eval_batch_size: evaluation batch (the last one is padded, so one compilation).
      log_every: steps between host syncs for the progress bar (the only syncs inside an
        epoch).
      checkpoint_every: epochs between checkpoints (0 = none; needs an output folder).
      keep_checkpoints: how many checkpoints are kept.
    """
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (80, 120)
    gamma: float = 0.1
    epochs: int = 160
    batch_size: int = 128
    augment: bool = True
    mask_mode: str = "binary"
    eval_every: int = 1
    eval_batch_size: int = 1000
    log_every: int = 100
    checkpoint_every: int = 1
    keep_checkpoints: int = 2

    def validate(self) -> "TrainConfig":
        """Raise SketchjaxError on any value outside its range; returns self."""
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        check_choice(self.mask_mode, MASK_MODES, "mask mode")
        for name in ("lr", "gamma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise SketchjaxError(f"{name} must be a positive number, got {value!r}")
        if not (0 <= self.momentum < 1):
            raise SketchjaxError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise SketchjaxError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise SketchjaxError("nesterov needs the sgd optimizer with momentum > 0")
        for name, minimum in (("epochs", 1), ("batch_size", 1), ("eval_every", 0),
                              ("eval_batch_size", 1), ("log_every", 1),
                              ("checkpoint_every", 0), ("keep_checkpoints", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise SketchjaxError(f"{name} must be an int >= {minimum}, got {value!r}")
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in self.milestones):
            raise SketchjaxError(f"milestones must be positive epoch numbers, got "
                                 f"{self.milestones!r}")
        return self

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (milestones given as any sequence)."""
        if "milestones" in changes:
            changes["milestones"] = tuple(int(m) for m in changes["milestones"])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls().replace(**{k: v for k, v in d.items() if k in known})


PRESETS: dict[str, TrainConfig] = {
    # The paper (= OpenLTH's CIFAR defaults).
    "paper": TrainConfig(),
    # Frankle & Carbin's LeNet-300-100 protocol: Adam 1.2e-3, batch 60, 50K iterations on
    # MNIST (50 epochs); no weight decay, no lr drops (ours: the paper gives none for LeNet).
    "lenet": TrainConfig(optimizer="adam", lr=1.2e-3, batch_size=60, weight_decay=0.0,
                         milestones=(), epochs=50),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A named preset ("paper" | "lenet") with some fields overridden."""
    if name not in PRESETS:
        raise SketchjaxError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides)


# ----------------------------------------------------------------------------- optimizer


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int,
                           step_offset: int = 0) -> optax.Schedule:
    """lr * gamma ** (number of milestones passed), by global step.

    Args:
      config: the training config.
      steps_per_epoch: optimizer steps per epoch.
      step_offset: global step of the optimizer's first update (IMP levels resume the
        schedule at the rewind step with a fresh optimizer, whose own count starts at 0).
    Returns:
      count -> lr, jit-compatible.
    """
    boundaries = jnp.asarray([m * steps_per_epoch for m in config.milestones] or [0],
                             jnp.int32)
    active = bool(config.milestones)
    lr, gamma = float(config.lr), float(config.gamma)

    def schedule(count):
        step = jnp.asarray(count, jnp.int32) + step_offset
        passed = jnp.sum(step >= boundaries) if active else 0
        return lr * jnp.power(jnp.float32(gamma), passed)

    return schedule


def mask_updates() -> optax.GradientTransformationExtraArgs:
    """Zero the updates of pruned weights; the mask comes as `update(..., mask=tree)`.

    `mask` holds the prunable leaves only (any non-zero entry = trainable); other leaves pass
    unchanged. `jnp.where`, not a product, so a non-finite update cannot leak into a pruned
    weight. Put it last in the chain: after momentum and weight decay.
    """
    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None, *, mask=None, **extra_args):
        del params, extra_args
        if mask is None:
            raise ValueError("mask_updates needs the mask: tx.update(grads, state, params, "
                             "mask=mask_tree)")
        flat_mask = trees.flatten(mask)
        masked = {p: (jnp.where(flat_mask[p] != 0, u, jnp.zeros_like(u)) if p in flat_mask
                      else u) for p, u in trees.flatten(updates).items()}
        return trees.unflatten(masked), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@functools.lru_cache(maxsize=32)
def make_optimizer(config: TrainConfig, steps_per_epoch: int,
                   step_offset: int = 0) -> optax.GradientTransformationExtraArgs:
    """The optax chain: L2 weight decay -> SGD/Adam with the lr schedule -> `mask_updates`.

    Cached, so equal configs share one transformation object (and one compiled step).
    """
    lr = learning_rate_schedule(config, steps_per_epoch, step_offset)
    parts = []
    if config.weight_decay:
        parts.append(optax.add_decayed_weights(config.weight_decay))
    if config.optimizer == "sgd":
        parts.append(optax.sgd(lr, momentum=config.momentum or None, nesterov=config.nesterov))
    else:
        parts.append(optax.adam(lr, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps))
    parts.append(mask_updates())
    return optax.chain(*parts)


# ----------------------------------------------------------------------------- state and steps


class TrainState(train_state.TrainState):
    """flax's TrainState plus BatchNorm statistics and the binary mask of trainable weights.

    Attributes (besides step, params, opt_state, apply_fn, tx):
      batch_stats: the 'batch_stats' collection ({} for models without BN).
      mask: float32 0/1 tree over the prunable leaves; 0 = pruned (never updated).
    """
    batch_stats: Any = None
    mask: Any = None

    def apply_gradients(self, *, grads, **kwargs) -> "TrainState":
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params, mask=self.mask)
        params = optax.apply_updates(self.params, updates)
        return self.replace(step=self.step + 1, params=params, opt_state=opt_state, **kwargs)


def create_train_state(module, params: Mapping, batch_stats: Mapping,
                       mask: Optional[Mapping], tx: optax.GradientTransformation, *,
                       mask_mode: str = "binary", step: int = 0) -> TrainState:
    """A TrainState whose params start as params * mask.

    Args:
      module: the Linen module (its `apply` becomes `state.apply_fn`).
      params, batch_stats: initial variables.
      mask: tree over the prunable leaves (binary, or Algorithm 1 values); None = dense.
      tx: the optimizer (from `make_optimizer`).
      mask_mode: "binary": params * support(mask); "scaled": params * mask values.
      step: the initial global step.
    Returns:
      the state; `state.mask` is the support of `mask` as float32 0/1.
    """
    if mask_mode not in MASK_MODES:
        raise SketchjaxError(f"unknown mask mode {mask_mode!r}; valid: {', '.join(MASK_MODES)}")
    values = (trees.ones_mask(params) if mask is None
              else jax.tree.map(lambda m: jnp.asarray(m, jnp.float32), dict(mask)))
    support = jax.tree.map(lambda m: (m != 0).astype(jnp.float32), values)
    start = trees.apply_mask(params, values if mask_mode == "scaled" else support)
    state = TrainState.create(apply_fn=module.apply, params=start, tx=tx,
                              batch_stats=dict(batch_stats), mask=support)
    return state.replace(step=jnp.asarray(step, jnp.int32))


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)


def train_step(state: TrainState, batch: Mapping[str, jax.Array]
               ) -> tuple[TrainState, dict[str, jax.Array]]:
    """One SGD/Adam step on mean cross-entropy, BatchNorm in training mode. Pure; no randomness.

    Args:
      state: the TrainState.
      batch: {"image": (B, *input_shape), "label": int32 (B,)}.
    Returns:
      (new state, {"loss_sum", "correct", "count"}: float32 sums over the batch).
    """
    images, labels = batch["image"], batch["label"]

    def loss_fn(params):
        variables = {"params": params, "batch_stats": state.batch_stats}
        logits, updated = state.apply_fn(variables, images, train=True,
                                         mutable=["batch_stats"])
        return _cross_entropy(logits, labels).mean(), (logits, updated)

    (loss, (logits, updated)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    batch_stats = dict(updated).get("batch_stats", state.batch_stats)
    state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    n = jnp.float32(labels.shape[0])
    correct = jnp.sum(jnp.argmax(logits, -1) == labels, dtype=jnp.float32)
    return state, {"loss_sum": loss * n, "correct": correct, "count": n}


def eval_step(state: TrainState, batch: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """Sums of loss and correct predictions, BatchNorm in inference mode.

    Args:
      state: the TrainState.
      batch: {"image", "label"} and optionally "weight" (B,) float32: 0 marks padding.
    Returns:
      {"loss_sum", "correct", "count"} (weighted sums, float32).
    """
    images, labels = batch["image"], batch["label"]
    weight = batch.get("weight", jnp.ones(labels.shape, jnp.float32))
    logits = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats},
                            images, train=False)
    hit = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return {"loss_sum": jnp.sum(weight * _cross_entropy(logits, labels)),
            "correct": jnp.sum(weight * hit), "count": jnp.sum(weight)}


@jax.jit
def _add(a, b):
    return jax.tree.map(jnp.add, a, b)


# ----------------------------------------------------------------------------- devices


def data_mesh(devices: Optional[Sequence] = None) -> Mesh:
    """A 1-D mesh named "data" over all devices (every host's, after jax.distributed)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (DATA_AXIS,))


@functools.lru_cache(maxsize=16)
def _compiled_steps(mesh: Mesh, stacked: bool):
    """(train, eval) jitted with the state replicated and the batch split over the mesh."""
    replicated = NamedSharding(mesh, PartitionSpec())
    train_batch = NamedSharding(mesh, PartitionSpec(None, DATA_AXIS) if stacked
                                else PartitionSpec(DATA_AXIS))
    eval_batch = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    step = jax.vmap(train_step) if stacked else train_step
    evaluate = jax.vmap(eval_step, in_axes=(0, None)) if stacked else eval_step
    return (jax.jit(step, in_shardings=(replicated, train_batch),
                    out_shardings=(replicated, replicated)),
            jax.jit(evaluate, in_shardings=(replicated, eval_batch), out_shardings=replicated))


def put_batch(batch: Mapping[str, np.ndarray], sharding: NamedSharding) -> dict:
    """Place a host batch (the same global batch on every host) with `sharding`."""
    if jax.process_count() == 1:
        return jax.device_put(dict(batch), sharding)
    return {k: jax.make_array_from_callback(np.shape(v), sharding,
                                            lambda idx, v=v: np.asarray(v)[idx])
            for k, v in batch.items()}


# ----------------------------------------------------------------------------- files


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Every file of a run folder, named in one place."""
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def metrics_json(self) -> Path:
        return self.root / "metrics.json"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.ndarray, jax.Array)):
        return np.asarray(x).tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


def write_json(path: Path, record: Any) -> None:
    """Atomic, sorted, indented JSON."""
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, default=_json_default)
                  + "\n")


def check_output_dir(out: str | os.PathLike) -> Path:
    """Check, without creating anything, that folder `out` can be created or written."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise SketchjaxError(f"--out {out} exists and is not a folder")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise SketchjaxError(f"cannot create --out {out}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SketchjaxError(f"cannot write to {probe} (creating --out {out}): permission denied")
    return out


class _ScalarWriter:
    """TensorBoard scalars: tensorboard's record format written with plain file I/O.

    tensorboard's EventFileWriter would import TensorFlow (for gfile); its RecordWriter and
    protos do not, so runs on offline data never load TensorFlow.
    """

    def __init__(self, logdir: Path):
        import socket
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter
        logdir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self._file = open(logdir / name, "wb")
        self._records = RecordWriter(self._file)
        self._records.write(Event(wall_time=time.time(),
                                  file_version="brain.Event:2").SerializeToString())

    def scalars(self, step: int, values: Mapping[str, Optional[float]]) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        summary = Summary(value=[Summary.Value(tag=k, simple_value=float(v))
                                 for k, v in values.items() if v is not None])
        self._records.write(Event(wall_time=time.time(), step=int(step),
                                  summary=summary).SerializeToString())
        self._file.flush()

    def close(self) -> None:
        self._file.close()


_CSV_FIELDS = ("seed", "epoch", "step", "lr", "train_loss", "train_accuracy", "test_loss",
               "test_accuracy", "epoch_seconds")


def _write_metrics(paths: RunPaths, history: Sequence[Mapping[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in _CSV_FIELDS})
    atomic_write_text(paths.metrics_csv, buf.getvalue())
    write_json(paths.metrics_json, list(history))


# ----------------------------------------------------------------------------- checkpoints


def _checkpoint_manager(directory: Path, keep: int):
    import orbax.checkpoint as ocp
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           cleanup_tmp_directories=True)
    return ocp.CheckpointManager(directory.absolute(), options=options,
                                 item_names=("state", "meta"))


def _checkpoint_tree(state: TrainState) -> dict:
    return {"step": state.step, "params": state.params, "batch_stats": state.batch_stats,
            "opt_state": state.opt_state, "mask": state.mask}


def _save_checkpoint(manager, state: TrainState, meta: Mapping[str, Any]) -> None:
    import orbax.checkpoint as ocp
    step = int(jax.device_get(state.step if state.step.ndim == 0 else state.step[0]))
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(_checkpoint_tree(state)),
        meta=ocp.args.JsonSave(dict(meta))))


def _restore_checkpoint(manager, state: TrainState) -> tuple[TrainState, dict]:
    import orbax.checkpoint as ocp
    step = manager.latest_step()
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        _checkpoint_tree(state))
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    tree = restored["state"]
    return state.replace(**tree), dict(restored["meta"])


# ----------------------------------------------------------------------------- data


def _pad(batch: Mapping[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Pad an eval batch to `size` rows; "weight" marks the real ones."""
    n = len(batch["label"])
    out = {"weight": np.concatenate([np.ones(n, np.float32), np.zeros(size - n, np.float32)])}
    for k in ("image", "label"):
        v = np.asarray(batch[k])
        out[k] = np.concatenate([v, np.zeros((size - n,) + v.shape[1:], v.dtype)]) if n < size \
            else v
    return out


def _real_train_stream(dataset: str, config: TrainConfig, seeds: Sequence[int], data_dir,
                       start_epoch: int, stacked: bool) -> Iterator[dict[str, np.ndarray]]:
    """Global training batches from `start_epoch` on; stacked (S, B, ...) over seeds."""
    from sketchjax.data import train_batches
    streams = [train_batches(dataset, config.batch_size, seed, data_dir, config.augment,
                             True, start_epoch=start_epoch) for seed in seeds]
    if not stacked:
        return streams[0]
    return ({k: np.stack([b[k] for b in batches]) for k in ("image", "label")}
            for batches in zip(*streams))


@functools.lru_cache(maxsize=16)
def _normal_generator(batch_size: int, input_shape: tuple[int, ...], num_classes: int,
                      sharding: NamedSharding, stacked: bool):
    """Jitted (base keys, step) -> a random `normal` batch (or one per seed), on device."""
    from sketchjax.data.random_data import normal_batch

    def one(key, step):
        images, labels = normal_batch(jax.random.fold_in(key, step), batch_size, input_shape,
                                      num_classes)
        return {"image": images, "label": labels}

    fn = jax.vmap(one, in_axes=(0, None)) if stacked else one
    return jax.jit(fn, out_shardings=sharding)


def normal_data_keys(seeds: Sequence[int]) -> jax.Array:
    """The base key of each seed's random-data stream: fold_in(key(seed), 2)."""
    return jnp.stack([jax.random.fold_in(jax.random.key(s), _NORMAL_STREAM) for s in seeds])


# ----------------------------------------------------------------------------- the run


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
      state: the final TrainState (leaves have a leading seed axis when several seeds ran).
      history: one record per (seed, evaluated or finished epoch).
      summary: the summary record (also written to summary.json when the run has a folder);
        None when the run stopped before its end (`stop_step`).
      paths: the run's files, or None.
      seeds: the training seeds, in the order of the state's leading axis.
    """
    state: TrainState
    history: list[dict[str, Any]]
    summary: Optional[dict[str, Any]]
    paths: Optional[RunPaths]
    seeds: tuple[int, ...]


@dataclasses.dataclass
class RunPlan:
    """Everything `train` checked before doing any heavy work (see `plan_run`)."""
    model: str
    dataset: str
    config: TrainConfig
    mask: Optional[Mask]
    seeds: tuple[int, ...]
    init_seeds: tuple[int, ...]
    num_classes: int
    input_shape: tuple[int, ...]
    data: str
    data_dir: Any
    steps_per_epoch: int
    num_test: Optional[int]
    paths: Optional[RunPaths]
    resume: bool
    start_step: int
    record: dict[str, Any]


def _abstract_params(model: str, dataset: str, num_classes: Optional[int]):
    """(module, params shapes, input shape, classes) without running the initialisers."""
    from sketchjax.data.metadata import dataset_info
    from sketchjax.models.registry import create_model
    info = dataset_info(dataset)
    classes = info.num_classes if num_classes is None else num_classes
    module = create_model(model, classes)
    x = jax.ShapeDtypeStruct((1,) + tuple(info.input_shape), jnp.float32)
    variables = jax.eval_shape(functools.partial(module.init, train=False),
                               jax.random.key(0), x)
    return module, dict(variables.get("params", {})), tuple(info.input_shape), classes


def _seed_tuple(seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0
                        for s in seeds):
        raise SketchjaxError(f"seeds must be a non-empty list of ints >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise SketchjaxError(f"seeds must be distinct, got {seeds!r}")
    return tuple(int(s) for s in seeds)


def plan_run(model: str, dataset: str, config: TrainConfig = TrainConfig(), *,
             mask: Optional[Mask] = None, seeds: Sequence[int] = (0,),
             init_seed: Optional[int] = None, num_classes: Optional[int] = None,
             data: str = "real", data_dir=None, out=None, resume: bool = False,
             start_step: int = 0, record: Optional[Mapping[str, Any]] = None) -> RunPlan:
    """Validate a run cheaply: names, config, mask fit, dataset on disk, output folder.

    Nothing is written and no initialiser or training step is compiled. Raises
    SketchjaxError with one clear message on any user mistake. Arguments as `train`.
    """
    config = config.validate()
    seeds = _seed_tuple(seeds)
    if data not in TRAIN_DATA:
        raise SketchjaxError(f"unknown training data {data!r}; valid: {', '.join(TRAIN_DATA)}")
    if isinstance(start_step, bool) or not isinstance(start_step, int) or start_step < 0:
        raise SketchjaxError(f"start_step must be an int >= 0, got {start_step!r}")
    module, params_shape, input_shape, classes = _abstract_params(model, dataset, num_classes)
    if mask is not None:
        validate_mask(mask, params_shape, model)
    if init_seed is None:
        init_seeds = ((int(mask.metadata.get("seed", 0)),) * len(seeds) if mask is not None
                      else seeds)
    else:
        init_seeds = (int(init_seed),) * len(seeds)
    paths = RunPaths(check_output_dir(out)) if out is not None else None
    if paths is not None:
        has_checkpoints = paths.checkpoints.is_dir() and any(paths.checkpoints.iterdir())
        if resume and not paths.config.exists():
            raise SketchjaxError(f"--resume: {paths.root} holds no run (no config.json)")
        if not resume and (has_checkpoints or paths.summary.exists()):
            raise SketchjaxError(f"{paths.root} already holds a run; pass --resume to continue "
                                 "it, or choose another --out")
    elif resume:
        raise SketchjaxError("resume needs the run's output folder (--out)")
    from sketchjax.data import num_examples
    num_test: Optional[int]
    try:
        num_train = num_examples(dataset, "train", data_dir)
        num_test = num_examples(dataset, "test", data_dir)
    except SketchjaxError:
        if data != "normal" or dataset not in _KNOWN_TRAIN_SIZES:
            raise
        num_train, num_test = _KNOWN_TRAIN_SIZES[dataset], None  # no evaluation possible
    steps_per_epoch = num_train // config.batch_size
    if steps_per_epoch < 1:
        raise SketchjaxError(f"batch size {config.batch_size} exceeds the {num_train} training "
                             f"examples of {dataset}")
    if start_step >= config.epochs * steps_per_epoch:
        raise SketchjaxError(f"start step {start_step} is past the end of the run "
                             f"({config.epochs} epochs x {steps_per_epoch} steps)")
    n_dev = len(jax.devices())
    if config.batch_size % n_dev:
        raise SketchjaxError(f"batch size {config.batch_size} is not divisible by the "
                             f"{n_dev} devices")
    return RunPlan(model=model, dataset=dataset, config=config, mask=mask, seeds=seeds,
                   init_seeds=init_seeds, num_classes=classes, input_shape=input_shape,
                   data=data, data_dir=data_dir, steps_per_epoch=steps_per_epoch,
                   num_test=num_test, paths=paths, resume=resume, start_step=start_step,
                   record=dict(record or {}))


def _identity(plan: RunPlan) -> dict[str, Any]:
    """The record that names a run (config.json): what determines its trajectory."""
    mask_record = None
    if plan.mask is not None:
        keep = ("method", "selection", "density", "realised_density", "seed", "model",
                "dataset", "inputs", "rounds", "replacement")
        mask_record = {k: plan.mask.metadata.get(k) for k in keep if k in plan.mask.metadata}
    return {"model": plan.model, "dataset": plan.dataset, "num_classes": plan.num_classes,
            "seeds": list(plan.seeds), "init_seeds": list(plan.init_seeds), "data": plan.data,
            "start_step": plan.start_step, "dense": plan.mask is None, "mask": mask_record,
            "train": plan.config.to_dict(), **plan.record}


def _check_resume_identity(paths: RunPaths, identity: Mapping[str, Any]) -> None:
    saved = json.loads(paths.config.read_text())
    diffs = []
    for key in sorted(set(saved) | set(identity)):
        a, b = saved.get(key), json.loads(json.dumps(identity.get(key), default=_json_default))
        if key == "train":
            a = {k: v for k, v in (a or {}).items() if k not in _RESUMABLE_CHANGES}
            b = {k: v for k, v in (b or {}).items() if k not in _RESUMABLE_CHANGES}
        if a != b:
            diffs.append(key if key != "train" else
                         "train." + ",".join(k for k in sorted(set(a) | set(b))
                                             if a.get(k) != b.get(k)))
    if diffs:
        raise SketchjaxError(f"--resume: {paths.root} was started with other settings "
                             f"({'; '.join(diffs)}); use the same flags or another --out")


def _initial_variables(plan: RunPlan, init_variables: Optional[Mapping]):
    """Per-seed (module, params, batch_stats) lists."""
    from sketchjax.models.registry import init_model
    cache: dict[int, Any] = {}
    module, params, stats = None, [], []
    for s in plan.init_seeds:
        if s not in cache:
            cache[s] = init_model(plan.model, plan.dataset, jax.random.key(s),
                                  num_classes=plan.num_classes)
        bundle = cache[s]
        module = bundle.module
        if init_variables is not None:
            params.append(init_variables["params"])
            stats.append(init_variables.get("batch_stats", bundle.batch_stats))
        else:
            params.append(bundle.params)
            stats.append(bundle.batch_stats)
    return module, params, stats


def _stack(items: Sequence[Any]):
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *items)


def _host(x) -> np.ndarray:
    return np.asarray(jax.device_get(x))


def _epoch_records(plan: RunPlan, epoch: int, step: int, lr: float, train_sums, test_sums,
                   seconds: float) -> list[dict[str, Any]]:
    """One history row per seed from device sums (the only host sync of an epoch)."""
    train_sums = {k: np.atleast_1d(_host(v)) for k, v in train_sums.items()}
    test_sums = ({k: np.atleast_1d(_host(v)) for k, v in test_sums.items()}
                 if test_sums is not None else None)
    rows = []
    for i, seed in enumerate(plan.seeds):
        row = {"seed": seed, "epoch": epoch, "step": step, "lr": lr,
               "train_loss": None, "train_accuracy": None, "test_loss": None,
               "test_accuracy": None, "epoch_seconds": round(seconds, 3)}
        count = float(train_sums["count"][i]) if train_sums else 0.0
        if count:
            row["train_loss"] = float(train_sums["loss_sum"][i]) / count
            row["train_accuracy"] = float(train_sums["correct"][i]) / count
        if test_sums is not None:
            n = float(test_sums["count"][i])
            row["test_loss"] = float(test_sums["loss_sum"][i]) / n
            row["test_accuracy"] = float(test_sums["correct"][i]) / n
        rows.append(row)
    return rows


def evaluate(state: TrainState, dataset: str, batch_size: int = 1000, data_dir=None, *,
             mesh: Optional[Mesh] = None, stacked: bool = False) -> dict[str, jax.Array]:
    """Test-split sums {"loss_sum", "correct", "count"} (per seed when `stacked`), on device.

    Batches are padded to `batch_size` (rounded up to a multiple of the devices), so the
    evaluation compiles once.
    """
    from sketchjax.data import eval_batches
    mesh = mesh or data_mesh()
    n_dev = mesh.devices.size
    batch_size = -(-batch_size // n_dev) * n_dev
    _, eval_fn = _compiled_steps(mesh, stacked)
    sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    total = None
    for batch in eval_batches(dataset, batch_size, data_dir):
        sums = eval_fn(state, put_batch(_pad(batch, batch_size), sharding))
        total = sums if total is None else _add(total, sums)
    return total


def _summary(plan: RunPlan, state: TrainState, history: Sequence[Mapping[str, Any]],
             wall_seconds: float, mesh: Mesh) -> dict[str, Any]:
    import flax
    import sketchjax
    stacked = len(plan.seeds) > 1
    mask_arrays = {p: _host(m[0] if stacked else m) for p, m in trees.flatten(state.mask).items()}
    density = density_summary(mask_arrays)
    # Pruned weights must be exactly 0: count any that are not (expected 0).
    leaked = 0
    flat_params = trees.flatten(state.params)
    for p, m in trees.flatten(state.mask).items():
        leaked += int(np.count_nonzero(_host(flat_params[p])[np.broadcast_to(_host(m) == 0,
                                                                             flat_params[p].shape)]))
    per_seed: dict[int, list[dict]] = {s: [] for s in plan.seeds}
    for row in history:
        per_seed.setdefault(row["seed"], []).append(row)
    final, best = [], []
    for s in plan.seeds:
        evaluated = [r["test_accuracy"] for r in per_seed[s] if r["test_accuracy"] is not None]
        final.append(evaluated[-1] if evaluated else None)
        best.append(max(evaluated) if evaluated else None)

    def mean_std(values):
        vals = [v for v in values if v is not None]
        if not vals:
            return None, None
        return float(np.mean(vals)), float(np.std(vals))

    mean_final, std_final = mean_std(final)
    mean_best, _ = mean_std(best)
    last = {s: per_seed[s][-1] for s in plan.seeds if per_seed[s]}
    return {
        "test_accuracy": mean_final,
        "test_accuracy_std": std_final,
        "best_test_accuracy": mean_best,
        "test_accuracy_per_seed": final,
        "best_test_accuracy_per_seed": best,
        "final_train_accuracy": mean_std([r.get("train_accuracy") for r in last.values()])[0],
        "epochs": plan.config.epochs,
        "steps": int(_host(state.step).max()),
        "steps_per_epoch": plan.steps_per_epoch,
        "seeds": list(plan.seeds),
        "init_seeds": list(plan.init_seeds),
        "model": plan.model,
        "dataset": plan.dataset,
        "num_classes": plan.num_classes,
        "data": plan.data,
        "dense": plan.mask is None,
        "mask_mode": plan.config.mask_mode,
        "density": density["density"],
        "kept": density["kept"],
        "prunable": density["size"],
        "per_layer": density["per_layer"],
        "pruned_weights_nonzero": leaked,
        "mask_metadata": dict(plan.mask.metadata) if plan.mask is not None else None,
        "run_dir": str(plan.paths.root) if plan.paths is not None else None,
        "wall_seconds": round(wall_seconds, 3),
        "train_seconds": round(sum(r["epoch_seconds"] for r in history
                                   if r["seed"] == plan.seeds[0]), 3),
        "devices": int(mesh.devices.size),
        "device_kind": jax.devices()[0].device_kind,
        "config": _identity(plan),
        "versions": {"sketchjax": sketchjax.__version__, "jax": jax.__version__,
                     "flax": flax.__version__, "optax": optax.__version__},
    }


def train(model: str, dataset: str, config: TrainConfig = TrainConfig(), *,
          mask: Optional[Mask] = None, seeds: Sequence[int] = (0,),
          init_seed: Optional[int] = None, num_classes: Optional[int] = None,
          data: str = "real", data_dir=None, out=None, resume: bool = False,
          progress: bool = True, init_variables: Optional[Mapping] = None,
          start_step: int = 0, stop_step: Optional[int] = None,
          record: Optional[Mapping[str, Any]] = None,
          plan: Optional[RunPlan] = None, epoch_lines: bool = True) -> TrainResult:
    """Train `model` on `dataset` with a mask (or dense), evaluating every epoch.

    Args:
      model, dataset: registry names.
      config: the recipe (`TrainConfig()` = the paper; see `PRESETS`).
      mask: a Mask (its support is trained; see config.mask_mode); None = dense.
      seeds: training seeds (data order, random data); several are trained together with
        vmap in one compiled program.
      init_seed: seed of the initial weights; None = the mask's seed (the weights the mask
        was computed for), or each training seed for a dense run.
      num_classes: overrides the dataset's class count.
      data: "real" (the training split) or "normal" (N(0,1) images, random labels; batch t
        of seed s from fold_in(fold_in(key(s), 2), t)). Evaluation is always on real data.
      data_dir: tfds data dir / offline cache dir.
      out: run folder (config, metrics, TensorBoard, checkpoints, summary.json); None = keep
        everything in memory (no checkpoints).
      resume: continue from the latest checkpoint in `out`.
      progress: tqdm bar (when stderr is a terminal) and one line per epoch.
      init_variables: {"params", "batch_stats"} to start from instead of the initialisers
        (IMP rewinding); shared by all seeds.
      start_step: global step the run starts at: the lr schedule and the data stream resume
        there, with a fresh optimizer (IMP: the rewind iteration).
      stop_step: return after this global step (no summary unless it is the end).
      record: extra entries for config.json/summary.json (e.g. the mask file, rewind).
      plan: a `plan_run` result (skips re-validation; its arguments win).
      epoch_lines: with `progress`, print one line per epoch (IMP turns them off).
    Returns:
      a TrainResult.
    """
    wall_start = time.perf_counter()
    if plan is None:
        plan = plan_run(model, dataset, config, mask=mask, seeds=seeds, init_seed=init_seed,
                        num_classes=num_classes, data=data, data_dir=data_dir, out=out,
                        resume=resume, start_step=start_step, record=record)
    config, paths, spe = plan.config, plan.paths, plan.steps_per_epoch
    stacked = len(plan.seeds) > 1
    end_step = config.epochs * spe
    stop = end_step if stop_step is None else min(int(stop_step), end_step)
    is_main = jax.process_index() == 0

    mesh = data_mesh()
    replicated = NamedSharding(mesh, PartitionSpec())
    batch_sharding = NamedSharding(mesh, PartitionSpec(None, DATA_AXIS) if stacked
                                   else PartitionSpec(DATA_AXIS))
    train_fn, _ = _compiled_steps(mesh, stacked)

    module, params, stats = _initial_variables(plan, init_variables)
    tx = make_optimizer(config, spe, plan.start_step)
    mask_tree = plan.mask.tree() if plan.mask is not None else None
    states = [create_train_state(module, p, b, mask_tree, tx, mask_mode=config.mask_mode,
                                 step=plan.start_step) for p, b in zip(params, stats)]
    state = states[0] if not stacked else states[0].replace(
        **{k: _stack([getattr(s, k) for s in states])
           for k in ("step", "params", "opt_state", "batch_stats", "mask")})
    state = jax.device_put(state, replicated)

    history: list[dict[str, Any]] = []
    manager = None
    identity = _identity(plan)
    if paths is not None and is_main:
        if plan.resume:
            _check_resume_identity(paths, identity)
        paths.root.mkdir(parents=True, exist_ok=True)
        write_json(paths.config, identity)
    if paths is not None and (config.checkpoint_every or plan.resume):
        manager = _checkpoint_manager(paths.checkpoints, config.keep_checkpoints)
        if plan.resume and manager.latest_step() is not None:
            state, meta = _restore_checkpoint(manager, state)
            history = list(meta.get("history", []))
    step = int(_host(state.step).max())
    if step >= end_step:  # resuming a finished run: just report it again
        summary = _summary(plan, state, history, time.perf_counter() - wall_start, mesh)
        if paths is not None and is_main:
            write_json(paths.summary, summary)
        return TrainResult(state, history, summary, paths, plan.seeds)
    if step >= stop:
        return TrainResult(state, history, None, paths, plan.seeds)

    start_epoch, skip = divmod(step, spe)
    if plan.data == "real":
        stream = _real_train_stream(plan.dataset, config, plan.seeds, plan.data_dir,
                                    start_epoch, stacked)
        for _ in range(skip):  # a mid-epoch start (IMP rewind point): the same data position
            next(stream)

        def next_batch(t):
            return put_batch(next(stream), batch_sharding)
    else:
        generator = _normal_generator(config.batch_size, plan.input_shape, plan.num_classes,
                                      batch_sharding, stacked)
        keys = normal_data_keys(plan.seeds)
        keys = keys if stacked else keys[0]

        def next_batch(t):
            return generator(keys, jnp.int32(t))

    writers = {}
    if paths is not None and is_main:
        writers = {s: _ScalarWriter(paths.tensorboard / f"seed_{s}") for s in plan.seeds}
    schedule = learning_rate_schedule(config, spe)
    from tqdm.auto import tqdm
    bar = tqdm(total=stop - step, desc=f"{plan.model}/{plan.dataset}", unit="step",
               disable=None if (progress and is_main) else True,  # None: off if not a tty
               leave=False, dynamic_ncols=True)
    try:
        epoch_start = time.perf_counter()
        sums = None
        while step < stop:
            batch = next_batch(step)
            state, metrics = train_fn(state, batch)
            sums = metrics if sums is None else _add(sums, metrics)
            step += 1
            bar.update(1)
            if step % config.log_every == 0 and progress and is_main:
                host = {k: np.atleast_1d(_host(v)) for k, v in sums.items()}
                bar.set_postfix(epoch=step // spe + (step % spe > 0),
                                loss=f"{host['loss_sum'].sum() / host['count'].sum():.4f}",
                                acc=f"{host['correct'].sum() / host['count'].sum():.4f}")
            if step % spe and step != stop:
                continue
            # An epoch ended (or the run stops mid-epoch).
            epoch = -(-step // spe)
            at_end = step == end_step
            evaluate_now = plan.num_test is not None and (
                at_end or (step % spe == 0 and config.eval_every
                           and epoch % config.eval_every == 0))
            test_sums = (evaluate(state, plan.dataset, config.eval_batch_size, plan.data_dir,
                                  mesh=mesh, stacked=stacked) if evaluate_now else None)
            if step % spe and not at_end:
                break  # stopped mid-epoch: no record, no checkpoint (as a killed run)
            seconds = time.perf_counter() - epoch_start
            rows = _epoch_records(plan, epoch, step, float(schedule(step - 1)), sums,
                                  test_sums, seconds)
            history.extend(rows)
            sums = None
            if is_main:
                for row in rows:
                    if row["seed"] in writers:
                        writers[row["seed"]].scalars(row["epoch"], {
                            "train/loss": row["train_loss"],
                            "train/accuracy": row["train_accuracy"],
                            "test/loss": row["test_loss"],
                            "test/accuracy": row["test_accuracy"], "lr": row["lr"]})
                if paths is not None:
                    _write_metrics(paths, history)
                if progress and epoch_lines:
                    bar.write(_epoch_line(rows, config.epochs))
            if manager is not None and config.checkpoint_every and (
                    epoch % config.checkpoint_every == 0 or at_end):
                _save_checkpoint(manager, state, {"history": history, "epoch": epoch})
            epoch_start = time.perf_counter()
    finally:
        bar.close()
        for w in writers.values():
            w.close()
        if manager is not None:
            manager.wait_until_finished()
            manager.close()
    if step < end_step:
        return TrainResult(state, history, None, paths, plan.seeds)
    summary = _summary(plan, state, history, time.perf_counter() - wall_start, mesh)
    if paths is not None and is_main:
        write_json(paths.summary, summary)
    return TrainResult(state, history, summary, paths, plan.seeds)


def _epoch_line(rows: Sequence[Mapping[str, Any]], epochs: int) -> str:
    def fmt(key, rows=rows):
        vals = [r[key] for r in rows if r[key] is not None]
        return "-" if not vals else f"{np.mean(vals):.4f}"
    r = rows[0]
    seeds = f" ({len(rows)} seeds, mean)" if len(rows) > 1 else ""
    return (f"epoch {r['epoch']:>3}/{epochs}  lr {r['lr']:.4g}  train loss {fmt('train_loss')}"
            f"  acc {fmt('train_accuracy')}  test loss {fmt('test_loss')}  acc "
            f"{fmt('test_accuracy')}  {r['epoch_seconds']:.1f}s{seeds}")


__all__ = [
    "MASK_MODES", "OPTIMIZERS", "PRESETS", "RunPaths", "RunPlan", "TRAIN_DATA", "TrainConfig",
    "TrainResult", "TrainState", "check_output_dir", "create_train_state", "data_mesh",
    "eval_step", "evaluate", "learning_rate_schedule", "make_optimizer", "mask_updates",
    "normal_data_keys", "plan_run", "preset", "put_batch", "train", "train_step",
]
