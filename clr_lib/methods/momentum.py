"""A momentum (exponential-moving-average) copy of an encoder and its head: MoCo's key encoder
(He et al. 2020), and the target network of BYOL-style methods (Grill et al. 2020)."""

from __future__ import annotations

import keras
import tensorflow as tf


class GroupedBatchNorm(keras.layers.BatchNormalization):
    """Batch normalisation that, in training mode, normalises each of ``groups`` equal sub-batches
    with that sub-batch's own mean and variance (ghost batch norm; the per-GPU batch norm of
    MoCo's shuffled keys), and never updates its moving statistics. In inference mode it is plain
    batch normalisation with the moving statistics.

    For inputs ``(N, ..., C)`` (channels last) with ``N`` a multiple of ``groups``, sub-batch ``g``
    holds rows ``g * N / groups`` to ``(g + 1) * N / groups - 1``.
    """

    def __init__(self, groups: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, inputs, training=None, mask=None):
        if not training:
            return super().call(inputs, training=False, mask=mask)
        if self.axis not in (-1, len(inputs.shape) - 1):
            raise ValueError(f"GroupedBatchNorm normalises the last (channel) axis, got axis {self.axis}.")
        x = tf.cast(inputs, tf.float32)
        grouped = tf.reshape(x, tf.concat([[self.groups, -1], tf.shape(x)[1:]], axis=0))  # (G, N/G, ..., C)
        mean, variance = tf.nn.moments(grouped, axes=list(range(1, len(grouped.shape) - 1)), keepdims=True)
        offset = tf.cast(self.beta, tf.float32) if self.center else None
        scale = tf.cast(self.gamma, tf.float32) if self.scale else None
        normalized = tf.nn.batch_normalization(grouped, mean, variance, offset, scale, self.epsilon)
        return tf.cast(tf.reshape(normalized, tf.shape(x)), self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups}


def frozen_copy(model: keras.Model, groups: int = 0) -> keras.Model:
    """A non-trainable copy of ``model`` with its weights; with ``groups``, its batch-norm layers
    become ``GroupedBatchNorm(groups)`` (same weights)."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if groups and isinstance(layer, keras.layers.BatchNormalization):
            return GroupedBatchNorm.from_config({**layer.get_config(), "groups": groups})
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


def shuffled_order(n: int | tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A random permutation of ``range(n)`` ``(n,)``, a function of the stateless ``seed`` (two integers)."""
    return tf.argsort(tf.random.stateless_uniform(tf.reshape(n, [1]), seed=seed))


class MomentumEncoder:
    """A slowly moving copy of an encoder and its head, updated by ``update(m)``.

    ``update(m)`` applies ``theta_k <- m theta_k + (1 - m) theta_q`` to every weight of the copy
    (``theta_k``) from the matching weight of the online encoder and head (``theta_q``),
    batch-norm moving statistics included; the copy has no trainable weights and its outputs no
    gradient. It starts as an exact copy.

    Calling it embeds images ``(N, H, W, 3)`` as ``head(encoder(images))`` ``(N, D)``:

    * ``shuffle_bn=0``: in inference mode, batch norm using the copy's moving statistics;
    * ``shuffle_bn=G``: in training mode, with MoCo's shuffling BN (He et al. 2020, sec. 3.3): the
      images are put in a random order (``shuffled_order(N, seed)``), every batch-norm layer
      normalises each of ``G`` equal sub-batches with its own statistics (``GroupedBatchNorm``;
      moving statistics neither used nor updated), and the outputs are put back in the input
      order. ``N`` must be a multiple of ``G``.

    Args:
        encoder: the online encoder, ``(N, H, W, 3) -> (N, F)``.
        head: the online head on its features, ``(N, F) -> (N, D)``, built.
        shuffle_bn: 0, or the number ``G`` of sub-batches of shuffling BN.
    """

    def __init__(self, encoder: keras.Model, head: keras.Model, shuffle_bn: int = 0):
        if shuffle_bn < 0:
            raise ValueError(f"shuffle_bn must be 0 (off) or a number of sub-batches >= 1, got {shuffle_bn}.")
        self.shuffle_bn = shuffle_bn
        self.online = (encoder, head)
        self.encoder = frozen_copy(encoder, shuffle_bn)
        self.head = frozen_copy(head, shuffle_bn)

    def pairs(self) -> list[tuple[keras.Variable, keras.Variable]]:
        """(copy weight, online weight) pairs, in the same order on both sides."""
        online = self.online[0].weights + self.online[1].weights
        return list(zip(self.encoder.weights + self.head.weights, online))

    def update(self, momentum: float) -> None:
        """``theta_k <- m theta_k + (1 - m) theta_q`` for every weight, after an optimizer step."""
        for copy, online in self.pairs():
            copy.assign(momentum * copy + (1.0 - momentum) * tf.cast(online, copy.dtype))

    def __call__(self, images: tf.Tensor, seed: tf.Tensor | None = None) -> tf.Tensor:
        """The copy's embeddings ``(N, D)`` of ``images``, without gradient; ``seed`` (two
        integers) draws the shuffle of shuffling BN and is needed only with it."""
        if not self.shuffle_bn:
            return tf.stop_gradient(self.head(self.encoder(images, training=False), training=False))
        order = shuffled_order(tf.shape(images)[0], seed)
        shuffled = self.head(self.encoder(tf.gather(images, order), training=True), training=True)
        return tf.stop_gradient(tf.gather(shuffled, tf.argsort(order)))  # argsort(order) inverts the permutation
