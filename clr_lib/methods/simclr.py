"""SimCLR (Chen et al. 2020) and DCL/DCLW (Yeh et al. 2022): the same model, another loss."""

from __future__ import annotations

import keras
import tensorflow as tf

from clr_lib import losses
from clr_lib.methods.base import ContrastiveModel, gather_replicas


@keras.saving.register_keras_serializable(package="clr_lib")
class SimCLR(ContrastiveModel):
    """SimCLR: NT-Xent between the projections of two views of each image.

    Under ``tf.distribute`` the projections of every replica are gathered first, so the
    negatives are the whole global batch, as in SimCLR's TPU training.
    """

    def __init__(self, encoder: keras.Model, temperature: float = 0.5, **kwargs):
        losses._check_temperature(temperature)
        super().__init__(encoder, **kwargs)
        self.temperature = temperature

    def pair_loss(self, z_a: tf.Tensor, z_b: tf.Tensor) -> tf.Tensor:
        """The loss on the global batch of projections ``(N, D)``."""
        return losses.nt_xent(z_a, z_b, self.temperature)

    def contrastive_loss(self, view_a, view_b):
        z_a = self.project(view_a, training=True)
        z_b = self.project(view_b, training=True)
        return self.pair_loss(gather_replicas(z_a), gather_replicas(z_b)), None

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="clr_lib")
class DCL(SimCLR):
    """Decoupled contrastive learning: SimCLR with the positive removed from the denominator.

    ``weighted=True`` is DCLW, which also weights each positive pair (``sigma``). Only
    ``pair_loss`` differs from SimCLR.
    """

    def __init__(
        self, encoder: keras.Model, temperature: float = 0.1, weighted: bool = False, sigma: float = 0.5, **kwargs
    ):
        super().__init__(encoder, temperature=temperature, **kwargs)
        self.weighted = weighted
        self.sigma = sigma

    def pair_loss(self, z_a, z_b):
        if self.weighted:
            return losses.dclw(z_a, z_b, self.temperature, self.sigma)
        return losses.dcl(z_a, z_b, self.temperature)

    def get_config(self) -> dict:
        return {**super().get_config(), "weighted": self.weighted, "sigma": self.sigma}
