"""MoCo v2 (He et al. 2020; Chen et al. 2020): a queue of negatives and a momentum encoder."""

from __future__ import annotations

import keras
import tensorflow as tf

from clr_lib import losses
from clr_lib.methods.base import ContrastiveModel, FifoQueue, replica_id
from clr_lib.methods.momentum import MomentumEncoder


@keras.saving.register_keras_serializable(package="clr_lib")
class MoCo(ContrastiveModel):
    """MoCo v2: queries from the trained encoder, keys from its exponential moving average.

    * The key encoder and key head (``key_encoder``, ``key_projector``: a ``MomentumEncoder``,
      ``momentum_encoder``) are frozen copies, updated after every step as
      ``theta_k <- m * theta_k + (1 - m) * theta_q`` (all weights, batch-norm moving statistics
      included; no gradient).
    * The queue is a FIFO of the ``queue_size`` most recent keys, the negatives of InfoNCE
      (``clr_lib.losses.info_nce``): ``l_i = -log(exp(q_i . k_i / t) / (exp(q_i . k_i / t) +
      sum_j exp(q_i . queue_j / t)))``, queries and keys ``(N, D)``, queue ``(K, D)``, all unit
      vectors. The loss uses the queue as it was before the step; the step's keys join it after.
    * ``symmetric=True`` uses both directions, ``(L(q_a, k_b) + L(q_b, k_a)) / 2``. Only the keys
      of view b are enqueued, N per step: the two views are augmented alike, so the keys of view b
      are as good negatives for ``q_b`` as for ``q_a``, while enqueuing both views would fill the
      queue with two views of every past image, half as many images for the same ``queue_size``,
      and make a queue hold a whole number of steps only at multiples of 2N. (solo-learn keeps one
      queue per view instead, at twice the memory.)

    Batch norm of the keys (``shuffle_bn``):

    * ``shuffle_bn=0`` (default): the key encoder runs in inference mode, normalising with its
      moving statistics, so no key sees the statistics of its own batch (the within-batch
      information leak that MoCo's shuffling BN exists to prevent). But those statistics start
      at mean 0 and variance 1 (far from a network's real activations) and reach the keys through
      two moving averages: the query encoder's batch norm (momentum ``b``, 0.9 in
      ``clr_lib.models``, 0.99 by Keras's default) and the key update (``m``). After ``t`` steps
      the initial values still weigh ``m^t + (1 - m) b (m^t - b^t) / (m - b)``: 40% at
      ``m = 0.99, b = 0.9`` after 100 steps, 75% at ``m = 0.999`` after 300. In a short run the
      keys come from a network that normalises with mostly made-up statistics, unlike the
      queries, which use the statistics of their batch.
    * ``shuffle_bn=G``: MoCo's shuffling BN (He et al. 2020, sec. 3.3), as in MoCo's code: the key
      encoder runs in training mode on the view's images in a random order (a new one every step),
      each batch-norm layer normalising each of ``G`` equal sub-batches with its own statistics,
      and the keys are put back in order. Keys are normalised like the queries from the first
      step, whatever the moving statistics. MoCo had one sub-batch per GPU (8 x 32 images) and
      the queries of each GPU's own sub-batch; here the queries are normalised over the whole
      (per-replica) batch, so each key's sub-batch is a random ``1/G`` of the images whose
      statistics its query saw: the leak is smaller than with ``G = 1`` (the whole batch), not
      nil. The per-replica batch must be a multiple of ``G``; sub-batches of 32 or more keep
      the statistics steady. The key encoder's moving statistics are still averaged from the
      query encoder's and serve inference-mode calls (e.g. ``callbacks.KeyEncoderLag``).

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
        shuffle_bn: int = 0,
        **kwargs,
    ):
        losses.check_temperature(temperature)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r} (MoCo uses 0.99 to 0.999).")
        super().__init__(encoder, head_batch_norm=head_batch_norm, **kwargs)
        self.momentum = momentum
        self.temperature = temperature
        self.symmetric = symmetric
        self.momentum_encoder = MomentumEncoder(self.encoder, self.projector, shuffle_bn)
        self.key_encoder = self.momentum_encoder.encoder
        self.key_projector = self.momentum_encoder.head
        self.queue = FifoQueue(self, queue_size, self.projection_dims[-1], name="queue")

    def keys(self, images: tf.Tensor, view: int = 1) -> tf.Tensor:
        """Key embeddings ``(N, D)`` of ``images`` (``view`` 0 or 1 of the pair), without gradient."""
        if not self.momentum_encoder.shuffle_bn:
            return self.momentum_encoder(images)
        # A new shuffle every step, view and replica: a stateless seed from all three.
        step = tf.cast(self.optimizer.iterations, tf.int32)
        return self.momentum_encoder(images, seed=tf.stack([step, 2 * replica_id() + view]))

    def contrastive_loss(self, view_a, view_b):
        self.queue.check_batch(view_a, per="global")
        groups = self.momentum_encoder.shuffle_bn
        if groups and view_a.shape[0] % groups:
            raise ValueError(f"shuffle_bn={groups} splits every (per-replica) batch into {groups} equal "
                             f"sub-batches, but the batch holds {view_a.shape[0]} images.")
        negatives = self.queue.value()
        k_b = self.keys(view_b, view=1)
        loss = losses.info_nce(self.project(view_a, training=True), k_b, negatives, self.temperature)
        if self.symmetric:
            k_a = self.keys(view_a, view=0)
            reverse = losses.info_nce(self.project(view_b, training=True), k_a, negatives, self.temperature)
            loss = 0.5 * (loss + reverse)
        return loss, k_b

    def after_step(self, memory):
        self.momentum_encoder.update(self.momentum)
        self.queue.push(memory)

    def get_config(self) -> dict:
        return {**super().get_config(), "queue_size": self.queue.size, "momentum": self.momentum,
                "temperature": self.temperature, "symmetric": self.symmetric,
                "shuffle_bn": self.momentum_encoder.shuffle_bn}
