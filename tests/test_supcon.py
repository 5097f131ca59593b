"""Supervised contrastive learning: its batches keep their labels, its step loss is Khosla et al.'s
equation 2 on its own projections, it learns classes, it saves, and it says what it needs."""

import keras
import numpy as np
import pytest
import reference_losses as ref
import tensorflow as tf

from clr_lib import augment, evaluation, methods, models, runs
from clr_lib.config import PROFILES
from clr_lib.data import make_synthetic
from clr_lib.pipeline import labeled_dataset, labeled_views_dataset, pretraining_dataset

SIZE, BATCH = 16, 32


def tiny_encoder():
    return models.small_cnn(widths=(16, 32, 64), input_shape=(SIZE, SIZE, 3))


@pytest.fixture(scope="module")
def data():
    return make_synthetic(320, SIZE, num_classes=4, seed=0), make_synthetic(200, SIZE, num_classes=4, seed=1)


def test_labeled_views_keep_each_image_s_label_through_the_shuffle():
    labels = np.arange(64) % 8
    images = np.repeat(labels[:, None, None, None] * 20, 8 * 8 * 3).reshape(64, 8, 8, 3).astype("float32")
    flips = keras.layers.RandomFlip("horizontal", seed=0)  # a flipped constant image is the same image
    for view_a, view_b, batch_labels in labeled_views_dataset(images, labels, 16, flips, seed=3):
        assert view_a.shape == view_b.shape == (16, 8, 8, 3) and batch_labels.dtype == tf.int32
        np.testing.assert_allclose(view_a.numpy().mean(axis=(1, 2, 3)), batch_labels.numpy() * 20, atol=1e-4)
        np.testing.assert_allclose(view_b.numpy().mean(axis=(1, 2, 3)), batch_labels.numpy() * 20, atol=1e-4)
    first = [b.numpy() for _, _, b in labeled_views_dataset(images, labels, 16, flips, seed=3)]
    assert not all(np.array_equal(b, labels[i * 16:(i + 1) * 16]) for i, b in enumerate(first))  # shuffled


def test_the_same_seed_draws_the_views_pretraining_dataset_draws(data):
    (x, y), _ = data
    layer = augment.simclr_augment(strength=0.5, seed=0)
    a, b, _ = next(iter(labeled_views_dataset(x, y, BATCH, layer, seed=5)))
    a2, b2 = next(iter(pretraining_dataset(x, BATCH, layer, seed=5)))
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())


def test_the_step_loss_is_equation_2_on_its_own_projections(data):
    (x, y), _ = data
    keras.utils.set_random_seed(0)
    model = methods.SupCon(tiny_encoder(), temperature=0.1, projection_dims=(64, 32))
    view_a, view_b, labels = next(iter(labeled_views_dataset(x, y, BATCH, augment.simclr_augment(seed=0), seed=0)))
    loss, memory = model.views_loss((view_a, view_b, labels))
    z = np.concatenate([model.project(view_a, training=True).numpy(), model.project(view_b, training=True).numpy()])
    expected = np.nanmean(ref.supcon_rows(z, np.concatenate([labels, labels]), 0.1))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
    assert memory is None


def test_supcon_learns_the_classes_and_round_trips(data, tmp_path):
    (x, y), (x_test, y_test) = data
    keras.utils.set_random_seed(0)
    model = methods.SupCon(tiny_encoder(), projection_dims=(64, 32))

    def knn():
        return evaluation.knn_accuracy(evaluation.extract_features(model.encoder, x), y,
                                       evaluation.extract_features(model.encoder, x_test), y_test, k=20)

    before = knn()
    model.compile(keras.optimizers.Adam(3e-3))
    losses = model.fit(labeled_views_dataset(x, y, BATCH, augment.simclr_augment(crop_scale=(0.5, 1.0), seed=0),
                                             seed=0), epochs=8, verbose=0).history["loss"]
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses
    assert knn() > before + 0.1, before
    model.save(tmp_path / "supcon.keras")
    loaded = keras.models.load_model(tmp_path / "supcon.keras")
    assert isinstance(loaded, methods.SupCon) and loaded.temperature == model.temperature
    np.testing.assert_allclose(loaded.project(x_test[:8]).numpy(), model.project(x_test[:8]).numpy(), atol=1e-5)


def test_runs_train_feeds_supcon_its_labels_and_refuses_images_without_them(data):
    (x, y), test = data
    profile = PROFILES["smoke"].replace(batch_size=BATCH, epochs=1, knn_k=5, warmup_epochs=0.0)
    model, history = runs.train("supcon", profile, (x, y), test, encoder=tiny_encoder(), seed=0)
    assert isinstance(model, methods.SupCon) and int(model.optimizer.iterations.numpy()) == len(x) // BATCH
    assert np.isfinite(history["loss"]).all() and "val_knn_acc" in history
    with pytest.raises(ValueError, match=r"supcon learns from labels: pass train_data=\(images, labels\)"):
        runs.train("supcon", profile, (x, None), None, encoder=tiny_encoder())


def test_supcon_names_what_a_batch_without_labels_lacks(data):
    (x, _), _ = data
    model = methods.SupCon(tiny_encoder(), projection_dims=(64, 32))
    view_a, view_b = next(iter(pretraining_dataset(x, BATCH, augment.simclr_augment(seed=0), seed=0)))
    with pytest.raises(ValueError, match="got 2 items per batch: make them with clr_lib.pipeline.labeled_views_dataset"):
        model.views_loss((view_a, view_b))
    with pytest.raises(ValueError, match="keep_labels=True needs a dataset of \\(images, labels\\)"):
        augment.two_views(tf.data.Dataset.from_tensor_slices(x), augment.simclr_augment(), keep_labels=True)


def test_train_classifier_learns_the_labels_and_fine_tunes_the_encoder_it_is_given(data):
    (x, y), (x_test, y_test) = data
    profile = PROFILES["smoke"].replace(batch_size=BATCH, warmup_epochs=0.0)
    classifier, history = runs.train_classifier(profile, (x, y), epochs=6, encoder=tiny_encoder(), num_classes=4)
    assert len(history["wall_time"]) == 6 and history["loss"][-1] < history["loss"][0]
    predicted = classifier.predict(x_test, verbose=0).argmax(axis=1)
    assert np.mean(predicted == y_test) > 0.5  # chance is 0.25
    assert int(classifier.optimizer.iterations.numpy()) == 6 * -(-len(x) // BATCH)  # partial batches count

    def fine_tuned_change(**learning_rate):  # the largest change of any weight of a pretrained encoder
        keras.utils.set_random_seed(1)
        pretrained = tiny_encoder()
        before = [w.numpy().copy() for w in pretrained.trainable_weights]
        runs.train_classifier(profile, (x[:64], y[:64]), epochs=1, encoder=pretrained, num_classes=4, **learning_rate)
        return max(float(np.abs(b - w.numpy()).max()) for b, w in zip(before, pretrained.trainable_weights))

    default, small = fine_tuned_change(), fine_tuned_change(learning_rate=1e-4)
    assert small > 0 and small < default / 5, (small, default)  # trained in place, at the rate asked for


@pytest.mark.parametrize("make", [labeled_views_dataset, labeled_dataset])
def test_labelled_pipelines_refuse_labels_of_another_length(make, data):
    (x, y), _ = data
    with pytest.raises(ValueError, match=f"images and labels differ in length: {len(x)} and {len(x) - 1}"):
        make(x, y[:-1], BATCH)
