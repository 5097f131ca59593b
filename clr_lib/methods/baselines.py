"""The early chapters' baselines: a supervised classifier and a siamese pair model (Hadsell et al. 2006)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from clr_lib import losses


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
