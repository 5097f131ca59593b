"""The early chapters' baselines: a supervised classifier and a siamese pair model (Hadsell et al. 2006),
the margin loss made self-supervised (``MarginContrastive``), and the supervised reference numbers
that chapter 1 records for the later chapters' plots."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from clr_lib import losses, results
from clr_lib.methods.base import ContrastiveModel, gather_replicas


def supervised_classifier(encoder: keras.Model, num_classes: int) -> keras.Model:
    """The encoder plus a linear layer producing ``num_classes`` logits, trained with labels.

    Compile with ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``. The
    encoder's layers are shared, so ``encoder`` itself holds the trained features afterwards.
    """
    logits = layers.Dense(num_classes, name="logits")(encoder.output)
    return keras.Model(encoder.input, logits, name=f"supervised_{encoder.name}")


def make_pairs(
    x: np.ndarray, y: np.ndarray, num_pairs: int | None = None, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Balanced pairs for a siamese model: half same-class, half different-class.

    Returns ``((x_a, x_b), same)`` with ``same[i] = 1`` when ``x_a[i]`` and ``x_b[i]`` share a
    class and 0 otherwise: the *pair* labels that ``contrastive_margin_loss`` expects.
    ``num_pairs`` defaults to ``len(x)``.
    """
    y = np.asarray(y).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("make_pairs needs at least 2 classes to build different-class pairs.")
    rng = np.random.default_rng(seed)
    num_pairs = len(x) if num_pairs is None else num_pairs
    by_class = {c: np.flatnonzero(y == c) for c in classes}
    same = np.zeros(num_pairs, np.float32)
    same[: num_pairs // 2] = 1
    rng.shuffle(same)
    first = rng.integers(0, len(x), num_pairs)
    second = np.empty(num_pairs, np.int64)
    for i, (anchor, is_same) in enumerate(zip(first, same)):
        if is_same:
            second[i] = rng.choice(by_class[y[anchor]])
        else:
            other = rng.choice(classes[classes != y[anchor]])
            second[i] = rng.choice(by_class[other])
    return (x[first], x[second]), same


@keras.saving.register_keras_serializable(package="clr_lib")
class EuclideanDistance(layers.Layer):
    """``||a - b||`` per row, with a small floor inside the square root so the gradient stays finite at 0."""

    def call(self, inputs):
        a, b = inputs
        return tf.sqrt(tf.maximum(tf.reduce_sum(tf.square(a - b), axis=-1), 1e-12))


def siamese_model(encoder: keras.Model, embedding_dim: int | None = None) -> keras.Model:
    """Two inputs through one shared encoder (plus an optional linear embedding); outputs their Euclidean distance ``(N,)``.

    Train on ``make_pairs`` output with ``MarginLoss``: ``model.fit((x_a, x_b), same)``.
    """
    embed = encoder
    if embedding_dim is not None:
        embed = keras.Sequential([encoder, layers.Dense(embedding_dim, name="embedding")], name="embed")
    shape = encoder.input_shape[1:]
    a, b = keras.Input(shape, name="image_a"), keras.Input(shape, name="image_b")
    distance = EuclideanDistance(name="distance")([embed(a), embed(b)])
    return keras.Model([a, b], distance, name="siamese")


@keras.saving.register_keras_serializable(package="clr_lib")
class MarginLoss(keras.losses.Loss):
    """``contrastive_margin_loss`` as a Keras loss: ``y_true`` = pair labels, ``y_pred`` = distances."""

    def __init__(self, margin: float = 1.0, name: str = "margin_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        return losses.contrastive_margin_loss(y_pred, y_true, self.margin)

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin}


def sigmoid_classifier(encoder: keras.Model) -> keras.Model:
    """The encoder plus one sigmoid unit: outputs ``p = sigmoid(w . f(x) + b)`` in (0, 1), shape ``(N, 1)``.

    A binary classifier (train it with binary labels and ``keras.losses.BinaryCrossentropy``).
    Chapter 2 also uses it to show what goes wrong when the margin loss is applied to ``p`` with
    class labels. The encoder's layers are shared, as in ``supervised_classifier``.
    """
    probability = layers.Dense(1, activation="sigmoid", name="probability")(encoder.output)
    return keras.Model(encoder.input, probability, name=f"sigmoid_{encoder.name}")


def pair_distances(z_a, z_b, normalize: bool = True) -> tf.Tensor:
    """Euclidean distances ``D_ij = ||a_i - b_j||`` between every row of ``z_a`` ``(N, D)`` and of ``z_b`` ``(M, D)``: ``(N, M)``.

    With ``normalize``, the rows are L2-normalised first (distances then lie in [0, 2]). A small
    floor inside the square root keeps the gradient finite at distance 0.
    """
    a, b = _as_matrix(z_a, "z_a"), _as_matrix(z_b, "z_b")
    if a.shape[1] is not None and b.shape[1] is not None and a.shape[1] != b.shape[1]:
        raise ValueError(f"z_a and z_b must have the same embedding size, got {a.shape[1]} and {b.shape[1]}.")
    if normalize:
        a, b = tf.math.l2_normalize(a, axis=1), tf.math.l2_normalize(b, axis=1)
    squared = (tf.reduce_sum(tf.square(a), axis=1)[:, None] + tf.reduce_sum(tf.square(b), axis=1)[None, :]
               - 2.0 * tf.matmul(a, b, transpose_b=True))
    return tf.sqrt(tf.maximum(squared, 1e-12))


def _as_matrix(z, name: str) -> tf.Tensor:
    z = tf.cast(tf.convert_to_tensor(z), tf.float32)
    if z.shape.rank != 2:
        raise ValueError(f"{name} must be a batch of embeddings (N, D), got shape {tuple(z.shape)}.")
    return z


def _check_margin(margin: float, normalize: bool) -> None:
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}: dissimilar pairs are pushed out to this distance.")
    if normalize and margin > 2:
        raise ValueError(
            f"margin {margin!r} is out of reach: normalised embeddings are at most 2 apart. "
            "Choose a margin in (0, 2], or normalize=False."
        )


def margin_pair_loss(z_a, z_b, margin: float = 1.0, normalize: bool = True) -> tf.Tensor:
    """The margin loss of Hadsell et al. (2006) on every pair of a batch of two views, no labels needed.

    With ``D_ij = ||a_i - b_j||`` (Euclidean; ``a, b`` L2-normalised first when ``normalize``),
    the ``N`` pairs ``(a_i, b_i)`` (two views of one image) are the similar pairs and the
    ``N(N - 1)`` pairs ``(a_i, b_j), i != j`` (views of different images) the dissimilar ones::

        loss = ( mean_i D_ii**2  +  mean_{i != j} max(0, margin - D_ij)**2 ) / 2

    that is, ``losses.contrastive_margin_loss`` with the two kinds of pair weighted equally, as
    on the balanced pairs Hadsell et al. train on. ``z_a, z_b``: ``(N, D)`` with ``N >= 2``.
    On normalised embeddings distances lie in [0, 2] (random unit vectors sit near sqrt(2)),
    so ``margin`` should lie in (0, 2].
    """
    _check_margin(margin, normalize)
    a, b = losses._check_pair(z_a, z_b)
    distance = pair_distances(a, b, normalize)
    if normalize:
        a, b = tf.math.l2_normalize(a, axis=1), tf.math.l2_normalize(b, axis=1)
    positive = tf.reduce_sum(tf.square(a - b), axis=1)  # D_ii**2, computed exactly
    n = tf.shape(a)[0]
    negative_mask = 1.0 - tf.eye(n)
    pushed = tf.square(tf.nn.relu(margin - distance)) * negative_mask
    negative = tf.reduce_sum(pushed) / tf.cast(n * (n - 1), tf.float32)
    return 0.5 * (tf.reduce_mean(positive) + negative)


@keras.saving.register_keras_serializable(package="clr_lib")
class MarginContrastive(ContrastiveModel):
    """Self-supervised margin pairs: ``margin_pair_loss`` between the projections of two views.

    The pairs come from augmentation instead of labels: two views of one image are a similar
    pair, views of two different images of the batch a dissimilar one. Otherwise the same
    model as SimCLR (encoder, projection head, shared training loop); only the loss differs.
    Under ``tf.distribute`` the projections of every replica are gathered first.

    Args:
        encoder: maps images to features ``(N, D)``.
        margin: dissimilar pairs closer than this are pushed apart (in (0, 2] when ``normalize``).
        normalize: L2-normalise the projections before measuring distances.
    """

    def __init__(self, encoder: keras.Model, margin: float = 1.0, normalize: bool = True, **kwargs):
        _check_margin(margin, normalize)  # at construction, not at the first step
        super().__init__(encoder, **kwargs)
        self.margin = margin
        self.normalize = normalize

    def pair_loss(self, z_a: tf.Tensor, z_b: tf.Tensor) -> tf.Tensor:
        """The loss on the global batch of projections ``(N, D)``."""
        return margin_pair_loss(z_a, z_b, self.margin, self.normalize)

    def contrastive_loss(self, view_a, view_b):
        z_a = self.project(view_a, training=True)
        z_b = self.project(view_b, training=True)
        return self.pair_loss(gather_replicas(z_a), gather_replicas(z_b)), None

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin, "normalize": self.normalize}


# --- the supervised reference numbers ---------------------------------------------------------------

BASELINE_FOLDER = "results"  # next to the chapter notebooks
REQUIRED_KEYS = ("profile", "hardware", "fractions")


def supervised_baseline_path(profile: str, folder: str | os.PathLike = BASELINE_FOLDER) -> Path:
    """Where chapter 1 stores the supervised reference numbers of ``profile`` (a profile name):
    ``folder/<profile>/supervised_baseline.json``, the layout of every chapter's result file."""
    return Path(folder) / profile / "supervised_baseline.json"


def save_supervised_baseline(record: dict, folder: str | os.PathLike = BASELINE_FOLDER) -> Path:
    """Write ``record`` as JSON to ``supervised_baseline_path(record["profile"], folder)``, atomically.

    ``record`` holds at least ``profile`` (its name), ``hardware`` and ``fractions``: a mapping
    from the fraction of labels used (``"1.0"``, ``"0.1"``, ``"0.01"``) to a dict of numbers,
    e.g. ``{"labels": 50000, "test_top1": 0.71, "knn_top1": 0.66}``. The file is written atomically
    (``results.write_json``), so a reader never sees half a file.
    """
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise ValueError(f"the record lacks {missing}: it needs {list(REQUIRED_KEYS)}.")
    if not record["fractions"]:
        raise ValueError("the record's fractions are empty: add one entry per fraction of labels, e.g. {'1.0': {...}}.")
    return results.write_json(supervised_baseline_path(record["profile"], folder), record)


def load_supervised_baseline(profile: str, folder: str | os.PathLike = BASELINE_FOLDER) -> dict:
    """The supervised reference numbers chapter 1 measured in ``profile`` (a profile name)."""
    return results.chapter_record("supervised_baseline", profile, folder, notebook="01_supervised_baseline.ipynb")


def reference_lines(record: dict, metric: str = "test_top1") -> dict[str, float]:
    """``{"supervised, 100% labels": value, ...}`` from a baseline record, for the ``baselines``
    argument of ``viz.training_curves`` and ``viz.metric_bars``; ``metric`` is ``test_top1`` (the
    classifier) or ``knn_top1`` (kNN on the supervised encoder's features)."""
    lines = {}
    for fraction, numbers in sorted(record["fractions"].items(), key=lambda item: -float(item[0])):
        if metric not in numbers:
            raise ValueError(f"metric {metric!r} is not recorded; the record has {sorted(numbers)}.")
        lines[f"supervised, {float(fraction):.0%} labels"] = float(numbers[metric])
    return lines
