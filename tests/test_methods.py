"""The contrastive methods on synthetic data: they learn, their losses and state updates are the
formulas (in NumPy, on the state before the step), they save and resume."""

import keras
import method_cases
import numpy as np
import pytest
import reference_losses as ref
import tensorflow as tf

from clr_lib import augment, evaluation, methods, models
from clr_lib.callbacks import KNNMonitor
from clr_lib.data import make_synthetic
from clr_lib.pipeline import pretraining_dataset

BATCH = 64
SIZE = 16  # small synthetic images keep every method's training run to seconds


def tiny_encoder():
    return models.small_cnn(widths=(16, 32, 64), input_shape=(SIZE, SIZE, 3))


def build(name, encoder):
    return method_cases.build(name, encoder, BATCH, projection_dims=(64, 32))


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


@pytest.mark.parametrize("name", method_cases.NAMES)
def test_method_learns_and_round_trips(name, data, tmp_path):
    keras.utils.set_random_seed(0)
    model = build(name, tiny_encoder())
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


TWO_VIEW = {  # the model, and the loss of each of its 2N anchors in NumPy from the projections
    "simclr": (lambda enc: methods.SimCLR(enc, projection_dims=(64, 32), temperature=0.2),
               lambda z_a, z_b: ref.nt_xent_rows(z_a, z_b, 0.2)),
    "dcl": (lambda enc: methods.DCL(enc, projection_dims=(64, 32), temperature=0.2),
            lambda z_a, z_b: ref.dcl_rows(z_a, z_b, 0.2)),
    "dclw": (lambda enc: methods.DCL(enc, projection_dims=(64, 32), temperature=0.2, weighted=True),
             lambda z_a, z_b: ref.dcl_rows(z_a, z_b, 0.2, ref.dclw_weights(z_a, z_b, 0.5))),
}


@pytest.mark.parametrize("name", list(TWO_VIEW))
def test_two_view_losses_are_the_formulas(name, data):
    """SimCLR's, DCL's and DCLW's losses on a batch: the mean over the 2N anchors of the formula."""
    keras.utils.set_random_seed(5)
    make, rows = TWO_VIEW[name]
    model = make(tiny_encoder())
    _, view_a, view_b = one_batch(data)
    z_a, z_b = (model.project(v, training=True).numpy() for v in (view_a, view_b))
    loss, memory = model.contrastive_loss(view_a, view_b)
    assert memory is None
    np.testing.assert_allclose(loss.numpy(), rows(z_a, z_b).mean(), rtol=1e-5)


SMALL = 8  # multi-crop's small views: half the side


def any_size_encoder():
    return models.small_cnn(widths=(16, 32, 64), input_shape=(None, None, 3))


def multi_crop(x, num_small=2, seed=0):
    small = augment.simclr_augment(strength=0.5, crop_scale=(0.2, 0.5), image_size=SMALL)
    return pretraining_dataset(x, BATCH, augment.simclr_augment(strength=0.5, crop_scale=(0.5, 1.0)), seed=seed,
                               small_augment=small, num_small=num_small)


@pytest.mark.parametrize("name", list(TWO_VIEW))
def test_multi_crop_loss_is_the_mean_of_its_pairwise_terms(name, data):
    """Two large and two small views: the mean of the formula over the pairs (a, b), (a, s1), (b, s1),
    (a, s2), (b, s2), each view projected in training mode."""
    keras.utils.set_random_seed(5)
    make, rows = TWO_VIEW[name]
    model = make(any_size_encoder())
    views = next(iter(multi_crop(data[0])))
    assert [tuple(v.shape) for v in views] == [(BATCH, SIZE, SIZE, 3)] * 2 + [(BATCH, SMALL, SMALL, 3)] * 2
    z = [model.project(v, training=True).numpy() for v in views]
    by_hand = np.mean([rows(z[i], z[j]).mean() for i, j in [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3)]])
    loss, _ = model.views_loss(tuple(views))
    np.testing.assert_allclose(loss.numpy(), by_hand, rtol=1e-5)
    two_views, _ = model.views_loss(tuple(views[:2]))  # two views stay the plain loss
    np.testing.assert_allclose(two_views.numpy(), rows(z[0], z[1]).mean(), rtol=1e-5)


def test_multi_crop_trains_simclr_and_other_methods_refuse_it_clearly(data):
    keras.utils.set_random_seed(0)
    model = build("simclr", any_size_encoder())
    model.compile(keras.optimizers.Adam(3e-3))
    history = model.fit(multi_crop(data[0]), epochs=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0], history
    fixed = build("simclr", tiny_encoder())
    with pytest.raises(ValueError, match="takes 16 x 16 images only, but the small views are 8 x 8"):
        fixed.views_loss(tuple(next(iter(multi_crop(data[0])))))
    moco = build("moco", any_size_encoder())
    moco.compile(keras.optimizers.Adam(3e-3))
    with pytest.raises(ValueError, match="MoCo trains on two views per image, got 4.*PairLossModel"):
        moco.fit(multi_crop(data[0]), epochs=1, verbose=0)


def weights_of(variables) -> list[np.ndarray]:
    return [np.array(v) for v in variables]


def before_step(model, compute):
    """``compute()`` on the model as it is, then every weight (batch-norm statistics too) put back."""
    weights = model.get_weights()
    result = compute()
    model.set_weights(weights)
    return result


def key_network(key_weights):
    """An encoder and MoCo head built afresh with the given key weights: keys computed
    independently of ``MoCo.keys``, in inference mode."""
    encoder, head = tiny_encoder(), models.projection_head((64, 32), batch_norm=False)
    head.build((None, encoder.output_shape[-1]))
    encoder.set_weights(key_weights[:len(encoder.weights)])
    head.set_weights(key_weights[len(encoder.weights):])
    return lambda images: head(encoder(images, training=False), training=False).numpy()


def test_moco_step_is_the_ema_formula_and_queue_holds_newest_keys(data):
    keras.utils.set_random_seed(1)
    model = methods.MoCo(tiny_encoder(), projection_dims=(64, 32), queue_size=4 * BATCH, momentum=0.9)
    model.compile(keras.optimizers.SGD(0.5))
    ds, view_a, view_b = one_batch(data)
    model.fit(ds, epochs=1, verbose=0)  # one step first, so the key and query weights differ
    key_before = weights_of(model.key_encoder.weights + model.key_projector.weights)
    queue_before = model.queue.value().numpy()
    keys = key_network(key_before)
    k_a, k_b = keys(view_a), keys(view_b)
    q_a, q_b = before_step(model, lambda: [model.project(v, training=True).numpy() for v in (view_a, view_b)])
    loss = model.fit(ds, epochs=1, verbose=0).history["loss"][0]

    expected_loss = 0.5 * (ref.info_nce_rows(q_a, k_b, queue_before, 0.2).mean()
                           + ref.info_nce_rows(q_b, k_a, queue_before, 0.2).mean())
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)  # symmetric InfoNCE against the old queue
    query_after = weights_of(model.encoder.weights + model.projector.weights)
    key_after = weights_of(model.key_encoder.weights + model.key_projector.weights)
    changed = 0
    for before, query, after in zip(key_before, query_after, key_after):
        np.testing.assert_allclose(after, 0.9 * before + 0.1 * query, rtol=1e-5, atol=1e-6)
        changed += not np.allclose(before, after)
    assert changed > len(key_before) // 2
    queue = model.queue.value().numpy()
    np.testing.assert_allclose(queue[:BATCH], ref.unit(k_b), atol=1e-5)  # the newest keys first: view b's
    np.testing.assert_allclose(queue[BATCH:], queue_before[:-BATCH], atol=1e-6)  # the oldest batch dropped


def test_momentum_encoder_is_an_ema_copy():
    """A frozen copy at first; ``update(m)`` is ``m * copy + (1 - m) * online`` for every weight."""
    encoder = tiny_encoder()
    head = models.projection_head((64, 32), batch_norm=True)
    head.build((None, encoder.output_shape[-1]))
    copy = methods.MomentumEncoder(encoder, head)
    assert not copy.encoder.trainable_weights and not copy.head.trainable_weights
    online = encoder.weights + head.weights
    for before, theirs in zip(weights_of(copy.encoder.weights + copy.head.weights), weights_of(online)):
        np.testing.assert_array_equal(before, theirs)
    rng = np.random.default_rng(0)
    for variable in online:  # the online network moves (batch-norm statistics included)
        variable.assign(np.asarray(variable) + rng.normal(size=variable.shape).astype("float32"))
    copy_before, online_now = weights_of(copy.encoder.weights + copy.head.weights), weights_of(online)
    copy.update(0.7)
    for after, before, theirs in zip(weights_of(copy.encoder.weights + copy.head.weights), copy_before, online_now):
        np.testing.assert_allclose(after, 0.7 * before + 0.3 * theirs, rtol=1e-6, atol=1e-6)
    images = rng.uniform(0, 255, (4, SIZE, SIZE, 3)).astype("float32")
    reference = tiny_encoder(), models.projection_head((64, 32), batch_norm=True)
    reference[1].build((None, encoder.output_shape[-1]))
    reference[0].set_weights(copy.encoder.get_weights())
    reference[1].set_weights(copy.head.get_weights())
    expected = reference[1](reference[0](images, training=False), training=False)
    np.testing.assert_allclose(copy(images).numpy(), expected.numpy(), atol=1e-5)  # inference mode


def test_grouped_batch_norm_normalises_each_sub_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(12, 5, 5, 4)).astype("float32")
    layer = methods.momentum.GroupedBatchNorm(groups=3)
    layer.build(x.shape)
    layer.gamma.assign(rng.uniform(0.5, 2, 4).astype("float32"))
    layer.beta.assign(rng.normal(size=4).astype("float32"))
    layer.moving_mean.assign(rng.normal(size=4).astype("float32"))
    layer.moving_variance.assign(rng.uniform(1, 2, 4).astype("float32"))
    gamma, beta, mean, var = (np.asarray(w, np.float64) for w in layer.weights)
    moving = (mean.copy(), var.copy())
    groups = x.astype(np.float64).reshape(3, 4, 5, 5, 4)
    group_mean = groups.mean(axis=(1, 2, 3), keepdims=True)
    group_var = groups.var(axis=(1, 2, 3), keepdims=True)
    expected = ((groups - group_mean) / np.sqrt(group_var + layer.epsilon) * gamma + beta).reshape(x.shape)
    np.testing.assert_allclose(layer(x, training=True).numpy(), expected, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(layer.moving_mean), moving[0])  # moving statistics untouched
    np.testing.assert_array_equal(np.asarray(layer.moving_variance), moving[1])
    inference = (x - moving[0]) / np.sqrt(moving[1] + layer.epsilon) * gamma + beta
    np.testing.assert_allclose(layer(x, training=False).numpy(), inference, atol=1e-4)


def test_shuffled_keys_are_the_keys_of_their_sub_batch(data):
    """With ``shuffle_bn=G``, key i is what the key network computes in training mode on the
    sub-batch that the shuffle put image i in, in the input order."""
    keras.utils.set_random_seed(3)
    encoder = tiny_encoder()
    head = models.projection_head((64, 32), batch_norm=True)
    head.build((None, encoder.output_shape[-1]))
    copy = methods.MomentumEncoder(encoder, head, shuffle_bn=4)
    images = data[0][:16].astype("float32")
    seed = tf.constant([5, 1])
    keys = copy(images, seed=seed).numpy()
    order = methods.momentum.shuffled_order(16, seed).numpy()
    assert sorted(order) == list(range(16)) and not np.array_equal(order, np.arange(16))
    expected = np.empty_like(keys)
    for group in order.reshape(4, 4):  # a fresh, trainable network: plain batch norm over the sub-batch
        reference = tiny_encoder(), models.projection_head((64, 32), batch_norm=True)
        reference[1].build((None, encoder.output_shape[-1]))
        reference[0].set_weights(encoder.get_weights())
        reference[1].set_weights(head.get_weights())
        expected[group] = reference[1](reference[0](images[group], training=True), training=True).numpy()
    np.testing.assert_allclose(keys, expected, atol=1e-4)
    assert not np.allclose(copy(images, seed=tf.constant([6, 1])).numpy(), keys, atol=1e-4)  # another shuffle


def test_moco_with_shuffled_bn_trains_saves_and_loads(data, tmp_path):
    keras.utils.set_random_seed(6)
    model = methods.MoCo(tiny_encoder(), projection_dims=(64, 32), queue_size=2 * BATCH, shuffle_bn=4)
    model.compile("adam")
    x = data[0][:2 * BATCH].astype("float32")
    history = model.fit(tf.data.Dataset.from_tensors((x[:BATCH], x[BATCH:])).repeat(2), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "moco.keras")
    loaded = keras.models.load_model(tmp_path / "moco.keras")
    assert loaded.momentum_encoder.shuffle_bn == 4
    assert isinstance(loaded.key_encoder.get_layer("stage0_0_bn"), methods.momentum.GroupedBatchNorm)
    for mine, theirs in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    images = data[2][:8].astype("float32")
    np.testing.assert_allclose(loaded.keys(images).numpy(), model.keys(images).numpy(), atol=1e-5)


def test_nnclr_neighbor_is_the_cosine_argmax():
    model = methods.NNCLR(tiny_encoder(), projection_dims=(64, 8), queue_size=32)
    rng = np.random.default_rng(0)
    support = rng.normal(size=(32, 8)).astype("float32")
    support /= np.linalg.norm(support, axis=1, keepdims=True)
    model.support_set.variable.assign(support)
    z = rng.normal(size=(10, 8)).astype("float32") * rng.uniform(0.1, 10, size=(10, 1))  # norms must not matter
    neighbors, index = model.nearest_neighbors(z)
    cosine = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ support.T
    np.testing.assert_array_equal(index.numpy(), cosine.argmax(axis=1))
    np.testing.assert_allclose(neighbors.numpy(), support[cosine.argmax(axis=1)])


def test_nnclr_loss_uses_the_old_support_set_and_pushes_the_projections(data):
    """The loss is the symmetric NNCLR loss with neighbors from the support set before the step;
    then the step's normalised projections of view a are at the front of the support set."""
    keras.utils.set_random_seed(4)
    model = methods.NNCLR(tiny_encoder(), projection_dims=(64, 32), queue_size=2 * BATCH)
    model.compile("adam")
    ds, view_a, view_b = one_batch(data)
    support = model.support_set.value().numpy()

    def projections_and_predictions():
        z = [model.project(v, training=True).numpy() for v in (view_a, view_b)]
        return z, [model.predictor(v, training=True).numpy() for v in z]

    (z_a, z_b), (p_a, p_b) = before_step(model, projections_and_predictions)
    loss = model.fit(ds, epochs=1, verbose=0).history["loss"][0]
    expected = 0.5 * (ref.nnclr_rows(ref.nearest(z_a, support), p_b, 0.1).mean()
                      + ref.nnclr_rows(ref.nearest(z_b, support), p_a, 0.1).mean())
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    after = model.support_set.value().numpy()
    np.testing.assert_allclose(after[:BATCH], ref.unit(z_a), atol=1e-5)
    np.testing.assert_allclose(after[BATCH:], support[:BATCH], atol=1e-6)  # the oldest batch dropped


def test_nnclr_neighbors_are_a_cosine_search_of_the_support_set(data):
    keras.utils.set_random_seed(2)
    model = methods.NNCLR(tiny_encoder(), projection_dims=(64, 8), queue_size=32)
    support = np.random.default_rng(1).normal(size=(32, 8)).astype("float32")
    support /= np.linalg.norm(support, axis=1, keepdims=True)
    model.support_set.variable.assign(support)
    images = data[2][:20]
    index, similarity = model.neighbors(images, batch_size=7)  # three batches, the last one partial
    z = model.project(images.astype("float32"), training=False).numpy().astype(np.float64)
    cosine = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ support.T
    assert index.shape == similarity.shape == (20,)
    np.testing.assert_array_equal(index, cosine.argmax(axis=1))
    np.testing.assert_allclose(similarity, cosine.max(axis=1), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        model.neighbors(images[0])


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


def test_bad_hyperparameters_are_clear_errors(data):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        methods.SimCLR(tiny_encoder(), temperature=0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        methods.DCL(tiny_encoder(), weighted=True, sigma=0)
    with pytest.raises(ValueError, match="momentum must be in"):
        methods.MoCo(tiny_encoder(), momentum=1.0)
    with pytest.raises(ValueError, match="shuffle_bn must be"):
        methods.MoCo(tiny_encoder(), shuffle_bn=-1)
    model = methods.MoCo(tiny_encoder(), projection_dims=(64, 32), queue_size=BATCH, shuffle_bn=5)
    model.compile("adam")
    with pytest.raises(ValueError, match="5 equal sub-batches, but the batch holds 64"):
        model.fit(one_batch(data)[0], epochs=1, verbose=0)
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
    model = build("simclr", tiny_encoder())
    model.compile("adam")
    monitor = KNNMonitor(x, y, x_test, y_test, every=1, k=20)
    stopper = keras.callbacks.EarlyStopping(monitor="val_knn_acc", mode="max", patience=100)
    history = model.fit(pairs(x[:2 * BATCH]), epochs=2, verbose=0, callbacks=[monitor, stopper]).history
    assert len(history["val_knn_acc"]) == 2
    assert history["val_knn_acc"][-1] == pytest.approx(knn(model.encoder, data))
    with pytest.raises(ValueError, match="one label per image"):
        KNNMonitor(x, y[:-1], x_test, y_test)
