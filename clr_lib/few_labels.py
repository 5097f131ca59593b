"""Few labels: a pretrained encoder fine-tuned, probed frozen, or the same network trained from scratch.

SimCLR's semi-supervised evaluation (Chen et al. 2020, "A Simple Framework for Contrastive
Learning of Visual Representations", section 6 and Table 7) fine-tunes the whole pretrained
network on 1% and 10% of ImageNet's labels and compares it with the same network trained with
those labels alone. ``compare`` runs that protocol on a class-balanced subset per seed, next to
a linear probe on the frozen encoder, every network trained for the same number of steps; and
the probe-then-fine-tune variant (LP-FT, Kumar et al. 2022, "Fine-Tuning can Distort Pretrained
Features and Underperform Out-of-Distribution"), which starts the linear layer from the fitted probe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np

from clr_lib import data, evaluation, runs
from clr_lib.config import Profile

LINEAR_PROBE, FROM_SCRATCH = "linear probe", "from scratch"


def fine_tuned(learning_rate: float) -> str:
    """The name of the fine-tuning protocol at peak ``learning_rate``, as ``compare`` keys it."""
    return f"fine-tuned, learning rate {learning_rate:g}"


def fine_tuned_from_probe(learning_rate: float) -> str:
    """The name of the probe-then-fine-tune protocol at peak ``learning_rate``, as ``compare`` keys it."""
    return f"probe, then fine-tuned, learning rate {learning_rate:g}"


def probe_head(probe) -> tuple[np.ndarray, np.ndarray]:
    """A fitted ``evaluation.fit_linear_probe`` as the ``(kernel (D, classes), bias (classes,))`` of one
    linear layer on the raw features: the scaler folded in, ``W' = W / s``, ``b' = b - W' mu``, so
    ``features @ W' + b'`` equals the probe's ``decision_function``. Needs 3 or more classes: with
    two, scikit-learn keeps a single row of weights, which is refused."""
    pipeline = getattr(probe, "best_estimator_", probe)
    scaler, logistic = pipeline[0], pipeline[-1]
    if logistic.coef_.shape[0] != len(logistic.classes_):
        raise ValueError(f"probe_head needs a probe of 3 or more classes (one row of weights each), got "
                         f"{len(logistic.classes_)} classes and {logistic.coef_.shape[0]} row(s).")
    kernel = (logistic.coef_ / scaler.scale_).T
    return kernel, logistic.intercept_ - scaler.mean_ @ kernel


def plan(labelled: int, steps: int, batch_size: int) -> dict[str, int]:
    """Batch, epochs and steps of a run on ``labelled`` images that takes about ``steps`` optimiser steps.

    The batch is ``batch_size`` or all the images when fewer; the epochs are rounded so the run
    takes the whole epochs closest to ``steps`` (at least one), e.g. 500 images, batch 64: 8 steps
    an epoch, 600 steps -> 75 epochs.
    """
    if min(labelled, steps, batch_size) < 1:
        raise ValueError(f"plan needs labelled images, steps and a batch size of at least 1, got "
                         f"{labelled}, {steps} and {batch_size}.")
    batch = min(batch_size, labelled)
    per_epoch = math.ceil(labelled / batch)
    epochs = max(1, round(steps / per_epoch))
    return {"batch_size": batch, "epochs": epochs, "steps": epochs * per_epoch}


def pretrained_copy(encoder: keras.Model) -> keras.Model:
    """A network of ``encoder``'s architecture holding its weights: fine-tuning trains the copy and
    leaves the original as it is."""
    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    return copy


def new_initialisation(encoder: keras.Model, seed: int) -> keras.Model:
    """A network of ``encoder``'s architecture, newly initialised with ``seed`` (to train from scratch).

    The weights depend on ``seed`` alone: a network built right after
    ``keras.utils.set_random_seed(seed)`` gets the very same ones. Frozen layers (``trainable=False``,
    such as ``models.patch_whitening``'s stem, computed from unlabelled images) are part of the
    architecture and keep ``encoder``'s weights."""
    keras.utils.set_random_seed(seed)
    new = keras.models.clone_model(encoder)
    for layer, original in zip(new.layers, encoder.layers):
        if not original.trainable and original.weights:
            layer.set_weights(original.get_weights())
    return new


def classifier_accuracy(classifier: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of a classifier's logits ``(N, classes)`` on ``images``, in inference mode."""
    logits = evaluation.extract_features(classifier, images)
    return float(np.mean(logits.argmax(axis=1) == np.asarray(labels).reshape(-1)))


def compare(
    encoder: keras.Model,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray],
    profile: Profile,
    augment_layer: keras.layers.Layer | None,
    fractions: Sequence[float] = (0.01, 0.1),
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 600,
    batch_size: int = 64,
    fine_tune_learning_rates: Sequence[float] = (),
    from_probe_learning_rates: Sequence[float] = (),
) -> dict[str, dict]:
    """Test accuracy with ``fractions`` of the labels, one class-balanced subset per seed, per protocol.

    For each fraction and seed (``data.subset(x, y, fraction, seed)``):

    * ``"linear probe"``: ``evaluation.fit_linear_probe`` on the frozen ``encoder``'s features;
    * ``fine_tuned(lr)``: a copy of ``encoder`` plus a linear layer, every weight trained with
      cross-entropy (``runs.train_classifier``) at peak learning rate ``lr``, for each of
      ``fine_tune_learning_rates`` (default: the profile's);
    * ``fine_tuned_from_probe(lr)``: the same, its linear layer starting from the fitted probe
      (``probe_head``), for each of ``from_probe_learning_rates`` (default: none);
    * ``"from scratch"``: the same architecture newly initialised, trained the same way at the
      profile's learning rate.

    Every trained network takes about ``steps`` steps (``plan``) with ``augment_layer`` on each
    batch and a warm-up of a tenth of them. ``encoder`` itself is not changed. Returns
    ``{str(fraction): {"labels", "batch_size", "epochs", "steps", <protocol>: [accuracy per seed]}}``.
    """
    (x, y), (x_test, y_test) = train_data, test_data
    learning_rates = tuple(fine_tune_learning_rates) or (profile.learning_rate,)
    classes = int(np.max(y)) + 1  # the classifiers' outputs, as many as the probe's for a balanced subset
    test_features = evaluation.extract_features(encoder, x_test)
    measured = {}
    for fraction in fractions:
        labelled = len(data.subset(x, y, fraction)[1])
        schedule = plan(labelled, steps, batch_size)
        settings = profile.replace(batch_size=schedule["batch_size"], warmup_epochs=0.1 * schedule["epochs"])
        starts = [(fine_tuned(lr), lr, False) for lr in learning_rates] + \
                 [(fine_tuned_from_probe(lr), lr, True) for lr in from_probe_learning_rates]
        row = {"labels": labelled, **schedule, LINEAR_PROBE: [], **{name: [] for name, _, _ in starts},
               FROM_SCRATCH: []}
        for seed in seeds:
            x_few, y_few = data.subset(x, y, fraction, seed=seed)
            probe = evaluation.fit_linear_probe(evaluation.extract_features(encoder, x_few), y_few)
            row[LINEAR_PROBE].append(float(probe.score(test_features, y_test)))
            for name, lr, from_probe in starts:
                classifier, _ = runs.train_classifier(settings, (x_few, y_few), schedule["epochs"], augment_layer,
                                                      encoder=pretrained_copy(encoder), seed=seed, learning_rate=lr,
                                                      num_classes=classes,
                                                      head=probe_head(probe) if from_probe else None)
                row[name].append(classifier_accuracy(classifier, x_test, y_test))
            classifier, _ = runs.train_classifier(settings, (x_few, y_few), schedule["epochs"], augment_layer,
                                                  encoder=new_initialisation(encoder, seed), seed=seed,
                                                  num_classes=classes)
            row[FROM_SCRATCH].append(classifier_accuracy(classifier, x_test, y_test))
        measured[str(fraction)] = row
    return measured
