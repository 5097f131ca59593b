"""MoCo v2 (He et al. 2020; Chen et al. 2020): a queue of negatives and a momentum encoder."""

from __future__ import annotations

import keras
import tensorflow as tf

from clr_lib import losses, models
from clr_lib.methods.base import ContrastiveModel, FifoQueue


@keras.saving.register_keras_serializable(package="clr_lib")
class MoCo(ContrastiveModel):
    """MoCo v2: queries from the trained encoder, keys from its exponential moving average.

    * The key encoder and key head are frozen copies, updated after every step as
      ``theta_k <- m * theta_k + (1 - m) * theta_q`` (all weights, batch-norm statistics
      included; no gradient). Keras runs a frozen batch-norm layer in inference mode, so keys
      are normalised with those averaged statistics, which also removes the within-batch
      information leak that MoCo's shuffled batch norm exists to prevent.
    * The queue is a FIFO of the ``queue_size`` most recent keys, the negatives of InfoNCE.
    * ``symmetric=True`` uses both directions, ``(L(q_a, k_b) + L(q_b, k_a)) / 2``; the keys of
      view b are enqueued.

    The projection head is MoCo v2's MLP (no batch norm) unless ``head_batch_norm=True``.
    """

    def __init__(
        self,
        encoder: keras.Model,
        queue_size: int = 4096,
        momentum: float = 0.99,
        temperature: float = 0.2,
        symmetric: bool = True,
        head_batch_norm: bool = False,
        **kwargs,
    ):
        losses._check_temperature(temperature)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r} (MoCo uses 0.99 to 0.999).")
        super().__init__(encoder, head_batch_norm=head_batch_norm, **kwargs)
        self.momentum = momentum
        self.temperature = temperature
        self.symmetric = symmetric
        self.key_encoder = keras.models.clone_model(encoder)
        self.key_projector = models.projection_head(self.projection_dims, head_batch_norm, self.sync_batch_norm)
        self.key_projector.build((None, self.feature_dim))
        for key, query in ((self.key_encoder, self.encoder), (self.key_projector, self.projector)):
            key.set_weights(query.get_weights())
            key.trainable = False
        self.queue = FifoQueue(self, queue_size, self.projection_dims[-1], name="queue")

    def _pairs(self) -> list[tuple[keras.Variable, keras.Variable]]:
        """(key weight, query weight) pairs, in the same order on both sides."""
        return list(zip(self.key_encoder.weights + self.key_projector.weights,
                        self.encoder.weights + self.projector.weights))

    def keys(self, images: tf.Tensor) -> tf.Tensor:
        return tf.stop_gradient(self.key_projector(self.key_encoder(images, training=False), training=False))

    def contrastive_loss(self, view_a, view_b):
        self.queue.check_batch(view_a, per="global")
        negatives = self.queue.value()
        k_b = self.keys(view_b)
        loss = losses.info_nce(self.project(view_a, training=True), k_b, negatives, self.temperature)
        if self.symmetric:
            reverse = losses.info_nce(self.project(view_b, training=True), self.keys(view_a), negatives, self.temperature)
            loss = 0.5 * (loss + reverse)
        return loss, k_b

    def after_step(self, memory):
        m = self.momentum
        for key, query in self._pairs():
            key.assign(m * key + (1.0 - m) * tf.cast(query, key.dtype))
        self.queue.push(memory)

    def get_config(self) -> dict:
        return {**super().get_config(), "queue_size": self.queue.size, "momentum": self.momentum,
                "temperature": self.temperature, "symmetric": self.symmetric}
