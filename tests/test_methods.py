"""The contrastive methods on synthetic data: they learn, their state updates are exact, they save and resume."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from clr_lib import augment, evaluation, methods, models
from clr_lib.callbacks import KNNMonitor
from clr_lib.data import make_synthetic
from clr_lib.pipeline import pretraining_dataset

BATCH = 64
SIZE = 16  # small synthetic images keep every method's training run to seconds


def tiny_encoder():
    return models.small_cnn(widths=(16, 32, 64), input_shape=(SIZE, SIZE, 3))


METHODS = {
    "simclr": lambda enc: methods.SimCLR(enc, projection_dims=(64, 32), temperature=0.2),
    "dcl": lambda enc: methods.DCL(enc, projection_dims=(64, 32)),
    "dclw": lambda enc: methods.DCL(enc, projection_dims=(64, 32), weighted=True),
    "moco": lambda enc: methods.MoCo(enc, projection_dims=(64, 32), queue_size=256, momentum=0.9),
    "nnclr": lambda enc: methods.NNCLR(enc, projection_dims=(64, 32), queue_size=256),
}


@pytest.fixture(scope="module")
def data():
    (x, y), (x_test, y_test) = make_synthetic(640, SIZE, num_classes=6, seed=0), make_synthetic(300, SIZE, 6, seed=1)
    return x, y, x_test, y_test


def knn(encoder, data):
    x, y, x_test, y_test = data
    return evaluation.knn_accuracy(
        evaluation.extract_features(encoder, x), y, evaluation.extract_features(encoder, x_test), y_test, k=20
    )


def pairs(x, seed=0):
    return pretraining_dataset(x, BATCH, augment.simclr_augment(strength=0.5, crop_scale=(0.5, 1.0)), seed=seed)


@pytest.mark.parametrize("name", list(METHODS))
def test_method_learns_and_round_trips(name, data, tmp_path):
    keras.utils.set_random_seed(0)
    model = METHODS[name](tiny_encoder())
    before = knn(model.encoder, data)  # its own random initialisation
    model.compile(keras.optimizers.Adam(3e-3))
    history = model.fit(pairs(data[0]), epochs=15, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert np.mean(history[-3:]) < np.mean(history[1:4]), history  # MoCo's first epoch has a random queue
    after = knn(model.encoder, data)
    assert after > before + 0.05, (before, after)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    images = data[2][:16]
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_allclose(
        loaded.project(images).numpy(), model.project(images).numpy(), atol=1e-5
    )
    for mine, theirs in zip(model.non_trainable_weights, loaded.non_trainable_weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())  # queues, key encoders, BN statistics
    model.encoder.save(tmp_path / "encoder.keras")
    encoder = keras.models.load_model(tmp_path / "encoder.keras")
    np.testing.assert_allclose(encoder.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def one_batch(data, seed=0):
    view_a, view_b = next(iter(pairs(data[0], seed)))
    return tf.data.Dataset.from_tensors((view_a, view_b)), view_a, view_b


def test_moco_step_is_the_ema_formula_and_queue_holds_newest_keys(data):
    keras.utils.set_random_seed(1)
    model = methods.MoCo(tiny_encoder(), projection_dims=(64, 32), queue_size=4 * BATCH, momentum=0.9)
    model.compile(keras.optimizers.SGD(0.5))
    ds, view_a, view_b = one_batch(data)
    model.fit(ds, epochs=1, verbose=0)  # one step first, so the key and query weights differ
    key_before = [w.numpy() for w in model.key_encoder.weights + model.key_projector.weights]
    queue_before = model.queue.value().numpy()
    expected_keys = tf.math.l2_normalize(model.keys(view_b), axis=1).numpy()
    model.fit(ds, epochs=1, verbose=0)
    query_after = [w.numpy() for w in model.encoder.weights + model.projector.weights]
    key_after = [w.numpy() for w in model.key_encoder.weights + model.key_projector.weights]
    changed = 0
    for before, query, after in zip(key_before, query_after, key_after):
        np.testing.assert_allclose(after, 0.9 * before + 0.1 * query, rtol=1e-5, atol=1e-6)
        changed += not np.allclose(before, after)
    assert changed > len(key_before) // 2
    queue = model.queue.value().numpy()
    np.testing.assert_allclose(queue[:BATCH], expected_keys, atol=1e-5)  # newest keys first
    np.testing.assert_allclose(queue[BATCH:], queue_before[:-BATCH], atol=1e-6)  # the oldest batch dropped


def test_nnclr_neighbour_is_the_cosine_argmax():
    model = methods.NNCLR(tiny_encoder(), projection_dims=(64, 8), queue_size=32)
    rng = np.random.default_rng(0)
    support = rng.normal(size=(32, 8)).astype("float32")
    support /= np.linalg.norm(support, axis=1, keepdims=True)
    model.support_set.variable.assign(support)
    z = rng.normal(size=(10, 8)).astype("float32") * rng.uniform(0.1, 10, size=(10, 1))  # norms must not matter
    neighbours, index = model.nearest_neighbours(z)
    cosine = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ support.T
    np.testing.assert_array_equal(index.numpy(), cosine.argmax(axis=1))
    np.testing.assert_allclose(neighbours.numpy(), support[cosine.argmax(axis=1)])


def test_nnclr_support_set_receives_projections(data):
    model = methods.NNCLR(tiny_encoder(), projection_dims=(64, 32), queue_size=2 * BATCH)
    model.compile("adam")
    ds, view_a, _ = one_batch(data)
    model.fit(ds, epochs=1, verbose=0)
    row_norms = np.linalg.norm(model.support_set.value().numpy()[:BATCH], axis=1)
    np.testing.assert_allclose(row_norms, 1.0, atol=1e-5)


def test_nnclr_neighbours_are_a_cosine_search_of_the_support_set(data):
    keras.utils.set_random_seed(2)
    model = methods.NNCLR(tiny_encoder(), projection_dims=(64, 8), queue_size=32)
    support = np.random.default_rng(1).normal(size=(32, 8)).astype("float32")
    support /= np.linalg.norm(support, axis=1, keepdims=True)
    model.support_set.variable.assign(support)
    images = data[2][:20]
    index, similarity = model.neighbours(images, batch_size=7)  # three batches, the last one partial
    z = model.project(images.astype("float32"), training=False).numpy().astype(np.float64)
    cosine = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ support.T
    assert index.shape == similarity.shape == (20,)
    np.testing.assert_array_equal(index, cosine.argmax(axis=1))
    np.testing.assert_allclose(similarity, cosine.max(axis=1), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        model.neighbours(images[0])


def test_nnclr_keeps_the_view_behind_every_support_entry(data, tmp_path):
    model = methods.NNCLR(tiny_encoder(), projection_dims=(64, 32), queue_size=2 * BATCH, keep_views=(SIZE, SIZE))
    model.compile("adam")
    assert model.support_views.shape == (2 * BATCH, SIZE, SIZE, 3) and not model.support_views.numpy().any()
    first, view_1, _ = one_batch(data, seed=0)
    second, view_2, _ = one_batch(data, seed=1)
    pixels = [np.clip(np.round(v.numpy()), 0, 255).astype(np.uint8) for v in (view_1, view_2)]
    model.fit(first, epochs=1, verbose=0)
    views = model.support_views.numpy()
    np.testing.assert_array_equal(views[:BATCH], pixels[0])
    assert not views[BATCH:].any()  # not written yet: black
    model.fit(second, epochs=1, verbose=0)
    views = model.support_views.numpy()
    np.testing.assert_array_equal(views[:BATCH], pixels[1])  # newest first, as in the support set
    np.testing.assert_array_equal(views[BATCH:], pixels[0])

    model.save(tmp_path / "nnclr.keras")
    loaded = keras.models.load_model(tmp_path / "nnclr.keras")
    assert loaded.keep_views == (SIZE, SIZE)
    np.testing.assert_array_equal(loaded.support_views.numpy(), views)

    wrong = methods.NNCLR(tiny_encoder(), projection_dims=(64, 32), queue_size=BATCH, keep_views=(SIZE + 1, SIZE))
    wrong.compile("adam")
    with pytest.raises(ValueError, match="keep_views is"):
        wrong.fit(first, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="keep_views must be"):
        methods.NNCLR(tiny_encoder(), queue_size=BATCH, keep_views=(0, SIZE))


def test_nnclr_without_kept_views_has_the_same_weights_as_before():
    model = methods.NNCLR(tiny_encoder(), projection_dims=(64, 32), queue_size=BATCH)
    assert model.support_views is None and model.get_config()["keep_views"] is None
    assert [w.name for w in model.non_trainable_weights if "support" in w.name] == ["support_set"]


@pytest.mark.parametrize("cls", [methods.MoCo, methods.NNCLR])
def test_queue_size_must_be_a_multiple_of_the_batch(cls, data):
    model = cls(tiny_encoder(), projection_dims=(64, 32), queue_size=100)
    model.compile("adam")
    with pytest.raises(ValueError, match="not a multiple of the global batch size 64"):
        model.fit(one_batch(data)[0], epochs=1, verbose=0)


def test_bad_hyperparameters_are_clear_errors():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        methods.SimCLR(tiny_encoder(), temperature=0)
    with pytest.raises(ValueError, match="momentum must be in"):
        methods.MoCo(tiny_encoder(), momentum=1.0)
    with pytest.raises(ValueError, match="prediction_dims must end"):
        methods.NNCLR(tiny_encoder(), projection_dims=(64, 32), prediction_dims=(64, 16))


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.snapshot = [w.numpy().copy() for w in self.model.weights]
            raise KeyboardInterrupt("simulated interruption")


class RecordStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.snapshot = [w.numpy().copy() for w in self.model.weights]


def test_backup_and_restore_resumes_weights_and_queue(data, tmp_path):
    def build():
        model = methods.MoCo(tiny_encoder(), projection_dims=(64, 32), queue_size=2 * BATCH)
        model.compile(keras.optimizers.Adam(1e-3))
        return model

    ds = pairs(data[0][:4 * BATCH])
    stop = StopAfter(epoch=1)
    with pytest.raises(KeyboardInterrupt):
        build().fit(ds, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(tmp_path), stop])
    start = RecordStart()
    history = build().fit(ds, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(tmp_path), start])
    assert len(history.history["loss"]) == 2  # epochs 3 and 4 only
    for saved, restored in zip(stop.snapshot, start.snapshot):
        np.testing.assert_array_equal(saved, restored)


def test_knn_monitor_reaches_history_and_early_stopping(data):
    x, y, x_test, y_test = data
    model = METHODS["simclr"](tiny_encoder())
    model.compile("adam")
    monitor = KNNMonitor(x, y, x_test, y_test, every=1, k=20)
    stopper = keras.callbacks.EarlyStopping(monitor="val_knn_acc", mode="max", patience=100)
    history = model.fit(pairs(x[:2 * BATCH]), epochs=2, verbose=0, callbacks=[monitor, stopper]).history
    assert len(history["val_knn_acc"]) == 2
    assert history["val_knn_acc"][-1] == pytest.approx(knn(model.encoder, data))
    with pytest.raises(ValueError, match="one label per image"):
        KNNMonitor(x, y[:-1], x_test, y_test)
