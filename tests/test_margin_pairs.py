"""The first two chapters' models: pairs that say what they hold, exact distances and margin loss,
one shared encoder, both models learning on synthetic data; the self-supervised margin loss against
a loop over the pairs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from clr_lib import augment, evaluation, losses, methods, models, runs
from clr_lib.data import make_synthetic
from clr_lib.methods import MarginLoss, make_pairs, siamese_model, supervised_classifier
from clr_lib.methods.margin import EuclideanDistance
from clr_lib.pipeline import pretraining_dataset

SIZE = 16
CLASSES = 4


def tiny_encoder():
    return models.small_cnn(widths=(16, 32), input_shape=(SIZE, SIZE, 3))


@pytest.fixture(scope="module")
def data():
    (x, y), (x_test, y_test) = make_synthetic(512, SIZE, CLASSES, seed=0), make_synthetic(256, SIZE, CLASSES, seed=1)
    return x, y, x_test, y_test


# --- make_pairs ------------------------------------------------------------------------------------


def id_images(n):
    """``n`` tiny images, image ``i`` filled with the value ``i``: a pair's images give back their indices."""
    return np.broadcast_to(np.arange(n, dtype=np.int32)[:, None, None, None], (n, 3, 3, 3)).copy()


def uneven_labels(n, seed=0):
    """Four classes of clearly different sizes (one of them a single image), in a random order."""
    sizes = [1, n // 6, n // 3]
    labels = np.concatenate([np.full(s, c) for c, s in enumerate(sizes)] + [np.full(n - sum(sizes), 3)])
    return np.random.default_rng(seed).permutation(labels).astype(np.int64)


def indices_of(images, n):
    """The index ``i`` of each image of ``id_images(n)``, checking every pixel says the same."""
    index = images[:, 0, 0, 0]
    assert ((0 <= index) & (index < n)).all()
    np.testing.assert_array_equal(images, id_images(n)[index])
    return index


@pytest.mark.parametrize("num_pairs", [1, 2, 7, 100, 101, 301])
@pytest.mark.parametrize("column_labels", [False, True])
def test_make_pairs_labels_say_whether_the_images_share_a_class(num_pairs, column_labels):
    n = 60
    x, y = id_images(n), uneven_labels(n)
    (x_a, x_b), same = make_pairs(x, y[:, None] if column_labels else y, num_pairs=num_pairs, seed=3)
    assert x_a.shape == x_b.shape == (num_pairs, 3, 3, 3) and x_a.dtype == x.dtype
    assert same.shape == (num_pairs,)
    assert set(np.unique(same)) <= {0.0, 1.0}
    assert abs(2 * int(same.sum()) - num_pairs) <= 1  # exactly half when even, within one of it when odd
    i, j = indices_of(x_a, n), indices_of(x_b, n)
    np.testing.assert_array_equal(same, (y[i] == y[j]).astype(same.dtype))


def test_make_pairs_covers_every_class_on_both_sides():
    n = 400
    x, y = id_images(n), np.random.default_rng(0).permutation(np.arange(n) % 4)
    (x_a, x_b), same = make_pairs(x, y, seed=1)
    i, j = indices_of(x_a, n), indices_of(x_b, n)
    for kind in (0.0, 1.0):
        chosen = same == kind
        assert set(y[i[chosen]]) == set(y[j[chosen]]) == {0, 1, 2, 3}
    assert len(np.unique(i)) > n // 2  # the first images are drawn across the data, not a few repeated


def test_make_pairs_defaults_to_len_x_and_is_seeded():
    n = 50
    x, y = id_images(n), uneven_labels(n)
    (a0, b0), s0 = make_pairs(x, y, seed=0)
    assert len(a0) == len(b0) == len(s0) == n
    (a1, b1), s1 = make_pairs(x, y, seed=0)
    for first, second in ((a0, a1), (b0, b1), (s0, s1)):
        np.testing.assert_array_equal(first, second)
    (a2, b2), s2 = make_pairs(x, y, seed=1)
    assert not (np.array_equal(a0, a2) and np.array_equal(b0, b2) and np.array_equal(s0, s2))
    assert (indices_of(a0, n) != indices_of(a2, n)).mean() > 0.5


def test_make_pairs_bad_input_is_a_clear_error():
    x = id_images(10)
    with pytest.raises(ValueError, match="at least 2 classes"):
        make_pairs(x, np.zeros(10, np.int64))
    with pytest.raises(ValueError, match="same length"):
        make_pairs(x, np.arange(9) % 2)


# --- the distance and the siamese model ------------------------------------------------------------


def test_euclidean_distance_is_the_norm_with_a_finite_gradient_at_zero():
    rng = np.random.default_rng(0)
    a = tf.Variable(rng.normal(size=(6, 5)).astype("float32"))
    b = tf.constant(rng.normal(size=(6, 5)).astype("float32"))
    layer = EuclideanDistance()
    with tf.GradientTape() as tape:
        d = layer([a, b])
    np.testing.assert_allclose(d.numpy(), np.linalg.norm(a.numpy() - b.numpy(), axis=1), rtol=1e-5)
    expected = (a.numpy() - b.numpy()) / np.linalg.norm(a.numpy() - b.numpy(), axis=1, keepdims=True)
    np.testing.assert_allclose(tape.gradient(d, a).numpy(), expected, rtol=1e-4, atol=1e-6)  # d||a-b||/da

    with tf.GradientTape() as tape:
        d = layer([a, tf.identity(a)])
    assert np.all(d.numpy() < 1e-5)
    assert np.all(np.isfinite(tape.gradient(d, a).numpy()))


def embed(model, encoder, images, embedding_dim):
    """The embedding ``f`` of the siamese model, computed from its parts: encoder, then (maybe) the linear layer."""
    features = evaluation.extract_features(encoder, images).astype(np.float64)
    if embedding_dim is None:
        return features
    kernel, bias = (w.numpy() for w in model.get_layer("embed").get_layer("embedding").weights)
    assert kernel.shape == (features.shape[1], embedding_dim)
    return features @ kernel + bias


@pytest.mark.parametrize("embedding_dim", [None, 8])
def test_siamese_outputs_the_distance_between_shared_embeddings(data, embedding_dim):
    keras.utils.set_random_seed(0)
    encoder = tiny_encoder()
    model = siamese_model(encoder, embedding_dim)
    x = data[0][:48]
    x_a, x_b = x[:24], x[24:]
    d = model.predict((x_a, x_b), verbose=0)
    assert d.shape == (24,)
    expected = np.linalg.norm(embed(model, encoder, x_a, embedding_dim) - embed(model, encoder, x_b, embedding_dim), axis=1)
    assert expected.min() > 1e-3  # distinct images: a check with room to fail
    np.testing.assert_allclose(d, expected, rtol=1e-4, atol=1e-5)

    # one set of encoder weights, used by both branches
    encoder_ids = {id(w) for w in encoder.weights}
    model_ids = [id(w) for w in model.weights]
    assert len(model_ids) == len(set(model_ids)) == len(encoder_ids) + (2 if embedding_dim else 0)
    assert encoder_ids <= set(model_ids)
    np.testing.assert_allclose(model.predict((x_b, x_a), verbose=0), d, rtol=1e-5, atol=1e-6)  # symmetric
    assert np.all(model.predict((x_a, x_a), verbose=0) < 1e-5)  # an image is at distance 0 from itself


@pytest.mark.parametrize("embedding_dim", [None, 8])
def test_siamese_gradient_is_finite_for_identical_inputs(data, embedding_dim):
    keras.utils.set_random_seed(0)
    model = siamese_model(tiny_encoder(), embedding_dim)
    x = tf.constant(data[0][:8], tf.float32)
    for label in (0.0, 1.0):  # dissimilar pairs at distance 0 are the hardest case: the margin pushes on them
        with tf.GradientTape() as tape:
            d = model((x, x), training=True)
            loss = MarginLoss()(tf.fill([8], label), d)
        assert np.all(d.numpy() < 1e-5)
        grads = tape.gradient(loss, model.trainable_weights)
        assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


# --- the margin loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.5])
def test_margin_loss_equals_contrastive_margin_loss(margin):
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 3, 32).astype("float32")
    same = (rng.uniform(size=32) < 0.5).astype("float32")
    value = MarginLoss(margin)(same, d).numpy()
    np.testing.assert_allclose(value, losses.contrastive_margin_loss(d, same, margin).numpy(), rtol=1e-6)
    by_hand = np.mean(same * d**2 + (1 - same) * np.maximum(0.0, margin - d) ** 2)
    np.testing.assert_allclose(value, by_hand, rtol=1e-5)
    restored = MarginLoss.from_config(MarginLoss(margin).get_config())
    assert restored.margin == margin


def test_margin_loss_inside_fit_is_the_formula_on_the_model_distances(data):
    keras.utils.set_random_seed(0)
    x, y = data[0][:128], data[1][:128]
    (x_a, x_b), same = make_pairs(x, y, seed=0)
    model = siamese_model(tiny_encoder(), embedding_dim=8)
    model.compile(keras.optimizers.Adam(1e-3), loss=MarginLoss(margin=2.0))
    history = model.fit((x_a, x_b), same, batch_size=32, epochs=1, verbose=0).history["loss"]
    assert not model.run_eagerly and np.isfinite(history[0])
    evaluated = model.evaluate((x_a, x_b), same, batch_size=len(same), verbose=0)
    d = model.predict((x_a, x_b), batch_size=len(same), verbose=0)
    np.testing.assert_allclose(evaluated, losses.contrastive_margin_loss(d, same, 2.0).numpy(), rtol=1e-4)


# --- learning ------------------------------------------------------------------------------------


def distance_gap(model, pairs, same):
    d = model.predict(pairs, verbose=0)
    return d[same == 0].mean() - d[same == 1].mean(), d


def test_siamese_training_separates_negative_from_positive_pairs(data):
    x, y, x_test, y_test = data
    keras.utils.set_random_seed(0)
    train_pairs, train_same = make_pairs(x, y, num_pairs=1024, seed=0)
    test_pairs, test_same = make_pairs(x_test, y_test, seed=1)
    model = siamese_model(tiny_encoder(), embedding_dim=16)
    gap_before, d_before = distance_gap(model, test_pairs, test_same)
    model.compile(keras.optimizers.Adam(2e-3), loss=MarginLoss(margin=1.0))
    history = model.fit(train_pairs, train_same, batch_size=64, epochs=5, verbose=0).history["loss"]
    gap_after, d_after = distance_gap(model, test_pairs, test_same)
    assert history[-1] < 0.8 * history[0], history
    assert gap_after > gap_before + 0.3, (gap_before, gap_after)
    # held-out pairs: the loss drops too, and the gap is large relative to the spread of the distances
    held_out = [losses.contrastive_margin_loss(d, test_same).numpy() for d in (d_before, d_after)]
    assert held_out[1] < held_out[0], held_out
    assert gap_after / d_after.std() > gap_before / d_before.std() + 0.5


def test_supervised_classifier_outputs_linear_logits_on_the_shared_encoder(data):
    keras.utils.set_random_seed(0)
    encoder = tiny_encoder()
    classifier = supervised_classifier(encoder, CLASSES)
    images = data[0][:10]
    logits = classifier.predict(images, verbose=0)
    assert logits.shape == (10, CLASSES)
    kernel, bias = (w.numpy() for w in classifier.get_layer("logits").weights)
    expected = evaluation.extract_features(encoder, images) @ kernel + bias
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(logits.sum(axis=1), 1.0)  # raw logits, not probabilities
    encoder_ids = {id(w) for w in encoder.weights}
    assert encoder_ids <= {id(w) for w in classifier.weights}
    assert len(classifier.weights) == len(encoder.weights) + 2


def test_supervised_classifier_trains_the_encoder_and_beats_chance(data):
    x, y, x_test, y_test = data
    keras.utils.set_random_seed(0)
    encoder = tiny_encoder()
    classifier = supervised_classifier(encoder, CLASSES)
    before = [w.numpy().copy() for w in encoder.trainable_weights]
    features_before = evaluation.extract_features(encoder, x_test[:16])
    classifier.compile(
        keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    history = classifier.fit(x, y, batch_size=64, epochs=4, verbose=0).history["loss"]
    assert history[-1] < history[0], history
    changed = [not np.allclose(b, w.numpy()) for b, w in zip(before, encoder.trainable_weights)]
    assert all(changed), changed  # every encoder weight was trained through the classifier
    assert not np.allclose(evaluation.extract_features(encoder, x_test[:16]), features_before)
    accuracy = classifier.evaluate(x_test, y_test, verbose=0)[1]
    predicted = classifier.predict(x_test, verbose=0).argmax(axis=1)
    np.testing.assert_allclose(accuracy, (predicted == y_test).mean(), atol=1e-6)
    assert accuracy > 0.7, accuracy  # chance is 1 / 4


# --- the self-supervised margin loss (MarginContrastive) ------------------------------------------


def margin_pair_loss_by_hand(a, b, margin, normalize):
    """A loop over every (i, j) pair of the batch: Hadsell et al.'s loss, positives and negatives weighted equally."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if normalize:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    positive, negative = [], []
    for i in range(len(a)):
        for j in range(len(b)):
            d = np.sqrt(np.sum((a[i] - b[j]) ** 2))
            if i == j:
                positive.append(d**2)
            else:
                negative.append(max(0.0, margin - d) ** 2)
    return 0.5 * (np.mean(positive) + np.mean(negative))


@pytest.mark.parametrize("normalize, margin", [(True, 0.5), (True, 1.0), (True, 1.8), (False, 1.0), (False, 4.0)])
def test_margin_pair_loss_is_the_margin_loss_on_every_pair_of_the_batch(normalize, margin):
    rng = np.random.default_rng(0)
    z_a = rng.normal(size=(7, 5)).astype("float32")
    z_b = (z_a + 0.6 * rng.normal(size=(7, 5))).astype("float32")  # views: closer to their own partner
    value = losses.margin_pair_loss(z_a, z_b, margin, normalize).numpy()
    np.testing.assert_allclose(value, margin_pair_loss_by_hand(z_a, z_b, margin, normalize), rtol=1e-4)
    # both terms are active in these cases: a check with room to fail
    assert 0 < value


@pytest.mark.parametrize("normalize", [True, False])
def test_pair_distances_is_every_euclidean_distance(normalize):
    rng = np.random.default_rng(1)
    z_a, z_b = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(3, 4)).astype("float32")
    d = losses.pair_distances(z_a, z_b, normalize).numpy()
    a, b = z_a.astype(np.float64), z_b.astype(np.float64)
    if normalize:
        a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    expected = np.array([[np.linalg.norm(a[i] - b[j]) for j in range(3)] for i in range(5)])
    np.testing.assert_allclose(d, expected, rtol=1e-4, atol=1e-5)
    assert d.shape == (5, 3) and (not normalize or d.max() <= 2.0 + 1e-5)
    with pytest.raises(ValueError, match="same embedding size"):
        losses.pair_distances(z_a, z_b[:, :3])
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        losses.pair_distances(z_a[0], z_b)


def test_margin_pair_loss_known_values_and_finite_gradients():
    # identical views far apart from each other: nothing to pull, nothing to push
    z = np.eye(4, dtype="float32")  # unit vectors sqrt(2) apart
    assert losses.margin_pair_loss(z, z, margin=1.0).numpy() == pytest.approx(0.0, abs=1e-6)
    # everything collapsed onto one point: every negative costs margin**2, weighted by 1/2
    collapsed = np.ones((4, 3), "float32")
    assert losses.margin_pair_loss(collapsed, collapsed, margin=0.8).numpy() == pytest.approx(0.5 * 0.64, rel=1e-5)
    variable = tf.Variable(collapsed)
    with tf.GradientTape() as tape:
        loss = losses.margin_pair_loss(variable, tf.constant(collapsed), margin=0.8, normalize=False)
    assert np.all(np.isfinite(tape.gradient(loss, variable).numpy()))


def test_margin_pair_loss_bad_input_is_a_clear_error():
    z = np.ones((4, 3), "float32")
    with pytest.raises(ValueError, match="margin must be > 0"):
        losses.margin_pair_loss(z, z, margin=0.0)
    with pytest.raises(ValueError, match="at most 2 apart"):
        losses.margin_pair_loss(z, z, margin=2.5)
    assert np.isfinite(losses.margin_pair_loss(z, z, margin=2.5, normalize=False).numpy())
    with pytest.raises(ValueError, match="same shape"):
        losses.margin_pair_loss(z, z[:3])
    with pytest.raises(ValueError, match="no negatives"):
        losses.margin_pair_loss(z[:1], z[:1])
    with pytest.raises(ValueError, match=r"\(0, 2\]"):
        methods.MarginContrastive(tiny_encoder(), margin=3.0)


def test_margin_contrastive_learns_on_synthetic_data_and_round_trips(data, tmp_path):
    x, y, x_test, y_test = data
    keras.utils.set_random_seed(0)
    model = runs.build_method("margin", tiny_encoder(), projection_dims=(64, 32), margin=1.0)
    assert isinstance(model, methods.MarginContrastive) and model.margin == 1.0 and model.normalize
    views = pretraining_dataset(x, 64, augment.simclr_augment(strength=0.5, crop_scale=(0.5, 1.0)), seed=0)

    def knn(encoder):
        features = [evaluation.extract_features(encoder, images) for images in (x, x_test)]
        return evaluation.knn_accuracy(features[0], y, features[1], y_test, k=20)

    before = knn(model.encoder)
    view_a, view_b = next(iter(views))
    model.compile(keras.optimizers.Adam(3e-3))
    # the loss the step minimises is margin_pair_loss on the projections of the two views
    expected = losses.margin_pair_loss(model.project(view_a, training=True), model.project(view_b, training=True))
    np.testing.assert_allclose(model.contrastive_loss(view_a, view_b)[0].numpy(), expected.numpy(), rtol=1e-5)
    history = model.fit(views, epochs=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert np.mean(history[-2:]) < 0.8 * history[0], history
    after = knn(model.encoder)
    assert after > before + 0.05, (before, after)

    model.save(tmp_path / "margin.keras")
    loaded = keras.models.load_model(tmp_path / "margin.keras")
    assert (loaded.margin, loaded.normalize) == (1.0, True)
    np.testing.assert_allclose(loaded.project(x_test[:8]).numpy(), model.project(x_test[:8]).numpy(), atol=1e-5)


def test_sigmoid_classifier_outputs_a_probability_on_the_shared_encoder(data):
    keras.utils.set_random_seed(0)
    encoder = tiny_encoder()
    model = methods.sigmoid_classifier(encoder)
    images = data[0][:10]
    p = model.predict(images, verbose=0)
    assert p.shape == (10, 1) and np.all((0 < p) & (p < 1))
    kernel, bias = (w.numpy() for w in model.get_layer("probability").weights)
    logits = evaluation.extract_features(encoder, images) @ kernel + bias
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logits)), rtol=1e-4, atol=1e-6)
    assert {id(w) for w in encoder.weights} <= {id(w) for w in model.weights}
