"""Few labels: the step plan, the networks fine-tuning and training from scratch start from, the
accuracy of a classifier, and ``compare``'s protocols checked against what each one promises."""

import keras
import numpy as np
import pytest

from clr_lib import augment, evaluation, few_labels, models, runs
from clr_lib.config import PROFILES
from clr_lib.data import make_synthetic, subset

SIZE = 16


def tiny_encoder():
    return models.small_cnn(widths=(8, 16), input_shape=(SIZE, SIZE, 3))


def weights_equal(a: keras.Model, b: keras.Model) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("labelled, steps, batch, expected", [
    (500, 600, 64, {"batch_size": 64, "epochs": 75, "steps": 600}),   # 8 steps an epoch (the last one partial)
    (5000, 600, 64, {"batch_size": 64, "epochs": 8, "steps": 632}),   # 79 steps an epoch: 7.6 epochs round to 8
    (30, 10, 64, {"batch_size": 30, "epochs": 10, "steps": 10}),      # fewer images than a batch: one batch of all
    (1000, 3, 64, {"batch_size": 64, "epochs": 1, "steps": 16}),      # at least one whole epoch
])
def test_plan_takes_the_whole_epochs_closest_to_the_steps(labelled, steps, batch, expected):
    assert few_labels.plan(labelled, steps, batch) == expected


def test_plan_refuses_nothing_to_train_on():
    with pytest.raises(ValueError, match="at least 1"):
        few_labels.plan(0, 600, 64)


def test_the_pretrained_copy_holds_the_encoder_s_weights_and_training_it_leaves_the_original():
    keras.utils.set_random_seed(7)
    encoder = tiny_encoder()
    before = [w.copy() for w in encoder.get_weights()]
    pretrained = few_labels.pretrained_copy(encoder)
    assert weights_equal(pretrained, encoder) and pretrained is not encoder
    for kernel in pretrained.trainable_weights:
        kernel.assign(kernel + 1.0)                                           # training the copy ...
    assert all(np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))  # ... leaves the original


def test_a_new_initialisation_depends_on_its_seed_alone():
    keras.utils.set_random_seed(7)
    encoder = tiny_encoder()
    new = few_labels.new_initialisation(encoder, seed=3)
    assert not weights_equal(new, encoder)
    assert weights_equal(new, few_labels.new_initialisation(encoder, seed=3))  # the seed fixes the initialisation
    assert not weights_equal(new, few_labels.new_initialisation(encoder, seed=4))


def test_a_new_initialisation_keeps_a_frozen_whitening_stem():
    rng = np.random.default_rng(0)
    kernel = models.patch_whitening(rng.uniform(0, 255, (20, 8, 8, 3)))
    encoder = models.small_cnn((4, 8), input_shape=(SIZE, SIZE, 3), whitening=kernel)
    new = few_labels.new_initialisation(encoder, seed=3)
    np.testing.assert_array_equal(new.get_layer("whitening").get_weights()[0], kernel)
    assert not weights_equal(new, encoder)  # the trainable layers are new


def test_classifier_accuracy_reads_the_argmax_of_the_logits():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (200, 1, 1, 3)).astype("float32")
    labels = pixels.reshape(200, 3).argmax(axis=1)
    labels[:50] = (labels[:50] + 1) % 3                                       # a quarter made wrong on purpose
    inputs = keras.Input((1, 1, 3))
    logits = keras.layers.Dense(3, kernel_initializer="identity", use_bias=False)(keras.layers.Flatten()(inputs))
    assert few_labels.classifier_accuracy(keras.Model(inputs, logits), pixels, labels) == pytest.approx(0.75)


@pytest.fixture(scope="module")
def study_data():
    return make_synthetic(240, SIZE, num_classes=4, seed=0), make_synthetic(120, SIZE, num_classes=4, seed=1)


def test_compare_runs_each_protocol_from_the_network_it_names(study_data, monkeypatch):
    (x, y), test = study_data
    keras.utils.set_random_seed(7)  # not a seed compare uses: new_initialisation(encoder, 0) would rebuild these very weights
    encoder = tiny_encoder()
    original = [w.copy() for w in encoder.get_weights()]
    started = []
    train_classifier = runs.train_classifier

    def recording(profile, train_data, epochs, augment_layer, encoder=None, seed=0, learning_rate=None,
                  num_classes=10, head=None):
        started.append({"pretrained": all(np.array_equal(a, b) for a, b in zip(encoder.get_weights(), original)),
                        "learning_rate": learning_rate, "seed": seed, "images": len(train_data[0]), "epochs": epochs,
                        "batch_size": profile.batch_size, "head": head, "classes": num_classes})
        return train_classifier(profile, train_data, epochs, augment_layer, encoder, seed, learning_rate, num_classes,
                                head)

    monkeypatch.setattr(runs, "train_classifier", recording)
    crop_flip = augment.simclr_variant("crop", crop_scale=(0.5, 1.0), seed=0)
    measured = few_labels.compare(encoder, (x, y), test, PROFILES["smoke"], crop_flip, fractions=(0.1,), seeds=(0, 1),
                                  steps=4, batch_size=8, fine_tune_learning_rates=(1e-3, 1e-4),
                                  from_probe_learning_rates=(1e-4,))
    row = measured["0.1"]
    assert {k: row[k] for k in ("labels", "batch_size", "epochs", "steps")} == {
        "labels": 24, "batch_size": 8, "epochs": 1, "steps": 3}
    protocols = [few_labels.LINEAR_PROBE, few_labels.fine_tuned(1e-3), few_labels.fine_tuned(1e-4),
                 few_labels.fine_tuned_from_probe(1e-4), few_labels.FROM_SCRATCH]
    assert [k for k, v in row.items() if isinstance(v, list)] == protocols  # in this order, for the tables
    assert all(len(row[p]) == 2 and all(0.0 <= a <= 1.0 for a in row[p]) for p in protocols)
    # per seed: three fine-tunings from the pretrained weights at their rates, then one run from a new initialisation
    assert [(s["pretrained"], s["learning_rate"], s["seed"], s["head"] is not None) for s in started] == [
        (True, 1e-3, 0, False), (True, 1e-4, 0, False), (True, 1e-4, 0, True), (False, None, 0, False),
        (True, 1e-3, 1, False), (True, 1e-4, 1, False), (True, 1e-4, 1, True), (False, None, 1, False)]
    assert all(s["images"] == 24 and s["epochs"] == 1 and s["batch_size"] == 8 and s["classes"] == 4 for s in started)
    assert all(np.array_equal(a, b) for a, b in zip(original, encoder.get_weights()))  # the encoder is unchanged
    x_few, y_few = subset(x, y, 0.1, seed=1)
    probe = evaluation.linear_probe(evaluation.extract_features(encoder, x_few), y_few,
                                    evaluation.extract_features(encoder, test[0]), test[1])
    assert row[few_labels.LINEAR_PROBE][1] == pytest.approx(probe)              # seed 1's subset, probed frozen
    fitted = evaluation.fit_linear_probe(evaluation.extract_features(encoder, x_few), y_few)
    for given, expected in zip(started[6]["head"], few_labels.probe_head(fitted)):  # LP-FT starts from that probe
        np.testing.assert_allclose(given, expected, rtol=1e-6)


def test_probe_head_gives_the_probe_s_own_scores_as_one_linear_layer():
    rng = np.random.default_rng(0)
    features = rng.normal(3.0, [0.5, 2.0, 1.0, 4.0], size=(90, 4))          # not standardised: the fold matters
    labels = np.repeat([0, 1, 2], 30)
    features[labels == 1, 0] += 1.5
    features[labels == 2, 3] -= 6.0
    for probe in (evaluation.fit_linear_probe(features, labels), evaluation.fit_linear_probe(features, labels, c=0.5)):
        kernel, bias = few_labels.probe_head(probe)
        assert kernel.shape == (4, 3) and bias.shape == (3,)
        np.testing.assert_allclose(features @ kernel + bias, probe.decision_function(features), rtol=1e-9, atol=1e-9)


def test_probe_head_refuses_a_two_class_probe():
    features = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ValueError, match="3 or more classes"):
        few_labels.probe_head(evaluation.fit_linear_probe(features, np.repeat([0, 1], 20), c=1.0))


def test_train_classifier_starts_from_the_given_head_and_refuses_a_wrong_shape():
    x, y = make_synthetic(16, SIZE, num_classes=3, seed=0)
    keras.utils.set_random_seed(0)
    encoder = tiny_encoder()
    width = encoder.output.shape[-1]
    kernel, bias = np.full((width, 3), 0.25, "float32"), np.array([1.0, -1.0, 0.5], "float32")
    profile = PROFILES["smoke"].replace(batch_size=8, learning_rate=0.0)               # no step moves the head
    classifier, _ = runs.train_classifier(profile, (x, y), 1, encoder=encoder, num_classes=3, head=(kernel, bias))
    given = classifier.get_layer("logits").get_weights()
    np.testing.assert_array_equal(given[0], kernel)
    np.testing.assert_array_equal(given[1], bias)
    with pytest.raises(ValueError, match="head must be"):
        runs.train_classifier(profile, (x, y), 1, encoder=tiny_encoder(), num_classes=3, head=(kernel.T, bias))
