"""SimCLR (Chen et al. 2020) and DCL/DCLW (Yeh et al. 2022): the same model, another loss."""

from __future__ import annotations

import keras
import tensorflow as tf

from clr_lib import losses
from clr_lib.methods import _rowwise
from clr_lib.methods.base import PairLossModel


@keras.saving.register_keras_serializable(package="clr_lib")
class SimCLR(PairLossModel):
    """SimCLR: NT-Xent between the projections of two views of each image.

    Every view of the batch is an anchor; its other view is the positive and the other ``2N - 2``
    views of the batch are the negatives (``clr_lib.losses.nt_xent``). Under ``tf.distribute``
    the negatives are the whole global batch, as in SimCLR's TPU training: each replica gathers
    the projections of every replica and computes the loss of its own ``2n`` anchors against the
    ``2N`` gathered views, a ``(2n, 2N)`` slice of the global logit matrix.
    """

    def __init__(self, encoder: keras.Model, temperature: float = 0.5, **kwargs):
        losses.check_temperature(temperature)
        super().__init__(encoder, **kwargs)
        self.temperature = temperature

    def anchor_losses(
        self, anchors: tf.Tensor, candidates: tf.Tensor, own: tf.Tensor, positive: tf.Tensor
    ) -> tf.Tensor:
        """The loss of each anchor ``(2n,)``: NT-Xent. The arguments are ``_rowwise.two_view_rows``'s:
        anchors ``(2n, D)``, candidates ``(2N, D)``, and each anchor's own and positive columns ``(2n,)``."""
        scores = losses.similarity_logits(anchors, candidates, self.temperature)
        return losses.nt_xent_rows(scores, positive, exclude=own)

    def pair_loss(self, z_a, z_b):
        return tf.reduce_mean(self.anchor_losses(*_rowwise.two_view_rows(z_a, z_b)))

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="clr_lib")
class DCL(PairLossModel):
    """Decoupled contrastive learning: SimCLR's model with the positive removed from the denominator.

    ``l_i = -w_i s_i+ + log sum_{negatives} exp(s_ij)`` with ``w_i = 1`` (``clr_lib.losses.dcl``).
    ``weighted=True`` is DCLW (``clr_lib.losses.dclw``), which weights each positive pair with
    ``w_i = 2 - N softmax_i(z_a,i . z_b,i / sigma)`` over the (global) batch, as in the paper; the
    weights average 1, and a pair far better aligned than the rest gets a negative weight, which
    pushes its two views apart. ``clamp_weights=True`` uses ``max(w_i, 0)`` instead. Only
    ``anchor_losses`` differs from SimCLR's.
    """

    def __init__(
        self,
        encoder: keras.Model,
        temperature: float = 0.1,
        weighted: bool = False,
        sigma: float = 0.5,
        clamp_weights: bool = False,
        **kwargs,
    ):
        losses.check_temperature(temperature)
        losses.check_temperature(sigma, "sigma")
        super().__init__(encoder, **kwargs)
        self.temperature = temperature
        self.weighted = weighted
        self.sigma = sigma
        self.clamp_weights = clamp_weights

    def anchor_losses(self, anchors, candidates, own, positive):
        """The loss of each anchor ``(2n,)``: DCL, or DCLW with weights from the global batch."""
        weight = 1.0
        if self.weighted:  # w_i from the N positive cosines Z_a[i] . Z_b[i] of the global batch
            big_n = tf.shape(candidates)[0] // 2
            cosines = tf.reduce_sum(candidates[:big_n] * candidates[big_n:], axis=1)
            weight = losses.dclw_weights(cosines, self.sigma, self.clamp_weights)
            weight = tf.gather(weight, own % big_n)  # both views of image i get w_i
        scores = losses.similarity_logits(anchors, candidates, self.temperature)
        return losses.dcl_rows(scores, positive, own, weight)

    def pair_loss(self, z_a, z_b):
        return tf.reduce_mean(self.anchor_losses(*_rowwise.two_view_rows(z_a, z_b)))

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature, "weighted": self.weighted,
                "sigma": self.sigma, "clamp_weights": self.clamp_weights}
