"""Margin-based contrastive pairs (Hadsell, Chopra & LeCun 2006): with labels, then without.

Chapter 2 first trains a siamese model on pairs built from class labels (``make_pairs``,
``siamese_model``, ``MarginLoss``), then makes the same loss self-supervised: two views of one
image are the similar pair, views of different images the dissimilar ones (``MarginContrastive``).
The losses themselves are ``clr_lib.losses.contrastive_margin_loss`` and ``margin_pair_loss``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from clr_lib import losses
from clr_lib.methods.base import PairLossModel, gather_replicas


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
    """``losses.contrastive_margin_loss`` as a Keras loss: ``y_true`` = pair labels, ``y_pred`` = distances."""

    def __init__(self, margin: float = 1.0, name: str = "margin_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        return losses.contrastive_margin_loss(y_pred, y_true, self.margin)

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package="clr_lib")
class MarginContrastive(PairLossModel):
    """Self-supervised margin pairs: ``losses.margin_pair_loss`` between the projections of two views.

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
        losses.check_margin(margin, normalize)  # at construction, not at the first step
        super().__init__(encoder, **kwargs)
        self.margin = margin
        self.normalize = normalize

    def pair_loss(self, z_a: tf.Tensor, z_b: tf.Tensor) -> tf.Tensor:
        """The loss on the global batch: every replica computes it on the gathered projections."""
        return losses.margin_pair_loss(gather_replicas(z_a), gather_replicas(z_b), self.margin, self.normalize)

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin, "normalize": self.normalize}
