"""Training streams: the fixed random set is a fixed set, visited in seeded epoch order,
resumable at any step, the same stacked or alone."""
import jax
import numpy as np

from sketchjax.data.streams import fixed_random_stream, real_train_stream
from sketchjax.training.steps import batch_sharding, data_mesh

N, B, SHAPE = 50, 10, (6, 1)


def take(stream, k):
    return [jax.device_get(next(stream)) for _ in range(k)]


def test_fixed_random_set_is_fixed_and_reshuffled_every_epoch():
    sharding = batch_sharding(data_mesh(), False)
    batches = take(fixed_random_stream(N, B, SHAPE, 10, (0,), 0, sharding), 10)
    epochs = [np.concatenate([b["image"] for b in batches[i:i + 5]]) for i in (0, 5)]
    labels = [np.concatenate([b["label"] for b in batches[i:i + 5]]) for i in (0, 5)]
    first = {img.tobytes(): lab for img, lab in zip(epochs[0], labels[0])}
    assert len(first) == N                                     # N distinct examples
    second = {img.tobytes(): lab for img, lab in zip(epochs[1], labels[1])}
    assert first == second                                     # the same set, same labels
    assert not np.array_equal(epochs[0], epochs[1])            # in another order
    assert abs(float(np.mean(epochs[0]))) < 0.2 and 0.8 < float(np.std(epochs[0])) < 1.2
    assert set(np.unique(labels[0])) <= set(range(10)) and len(np.unique(labels[0])) > 5


def test_fixed_random_stream_resumes_at_any_step_and_stacks_seeds():
    one = batch_sharding(data_mesh(), False)
    full = take(fixed_random_stream(N, B, SHAPE, 10, (3,), 0, one), 9)
    resumed = take(fixed_random_stream(N, B, SHAPE, 10, (3,), 7, one), 2)
    for a, b in zip(full[7:], resumed):
        np.testing.assert_array_equal(a["image"], b["image"])
    stacked = take(fixed_random_stream(N, B, SHAPE, 10, (3, 4), 0,
                                       batch_sharding(data_mesh(), True)), 3)
    other = take(fixed_random_stream(N, B, SHAPE, 10, (4,), 0, one), 3)
    for s, a, b in zip(stacked, full, other):
        np.testing.assert_array_equal(s["image"][0], a["image"])
        np.testing.assert_array_equal(s["label"][1], b["label"])
    assert not np.array_equal(stacked[0]["image"][0], stacked[0]["image"][1])


def test_real_stream_stacks_one_stream_per_seed():
    from sketchjax.data.pipelines import train_batches
    stacked = real_train_stream("digits", 32, (0, 1), None, False, 2)
    batch = next(stacked)
    assert batch["image"].shape == (2, 32, 8, 8, 1)
    alone = next(train_batches("digits", 32, 1, None, False, True, start_epoch=2))
    np.testing.assert_array_equal(batch["image"][1], alone["image"])
