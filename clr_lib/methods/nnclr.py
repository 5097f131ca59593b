"""NNCLR (Dwibedi et al. 2021): nearest neighbours from a support set as positives."""

from __future__ import annotations

import keras
import tensorflow as tf

from clr_lib import losses, models
from clr_lib.methods.base import ContrastiveModel, FifoQueue


@keras.saving.register_keras_serializable(package="clr_lib")
class NNCLR(ContrastiveModel):
    """NNCLR: each projection is replaced by its nearest neighbour (cosine) in a support set.

    ``prediction_dims`` defaults to the projection head's first and last sizes. The support set is a FIFO of the ``queue_size`` most recent projections (view a). The
    neighbour, found without gradient, is the positive for the other view's predictor output;
    the loss is symmetrised: ``(L(NN(z_a), p_b) + L(NN(z_b), p_a)) / 2``. With
    ``predictor=False`` the projections themselves play the predictions' part.
    """

    def __init__(
        self,
        encoder: keras.Model,
        queue_size: int = 8192,
        temperature: float = 0.1,
        predictor: bool = True,
        prediction_dims: tuple[int, ...] | None = None,
        **kwargs,
    ):
        losses._check_temperature(temperature)
        super().__init__(encoder, **kwargs)
        prediction_dims = prediction_dims or (self.projection_dims[0], self.projection_dims[-1])
        if predictor and prediction_dims[-1] != self.projection_dims[-1]:
            raise ValueError("prediction_dims must end in the projection size "
                             f"{self.projection_dims[-1]}, got {tuple(prediction_dims)}.")
        self.temperature = temperature
        self.predictor_enabled = predictor
        self.prediction_dims = tuple(prediction_dims)
        self.predictor = None
        if predictor:
            self.predictor = models.prediction_head(self.prediction_dims, self.head_batch_norm, self.sync_batch_norm)
            self.predictor.build((None, self.projection_dims[-1]))
        self.support_set = FifoQueue(self, queue_size, self.projection_dims[-1], name="support_set")

    def nearest_neighbours(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The support-set rows most cosine-similar to each row of ``z``, and their indices."""
        support = self.support_set.value()
        similarity = tf.matmul(tf.math.l2_normalize(tf.cast(z, tf.float32), axis=1), support, transpose_b=True)
        index = tf.argmax(similarity, axis=1)
        return tf.stop_gradient(tf.gather(support, index)), index

    def _predict(self, z: tf.Tensor) -> tf.Tensor:
        return self.predictor(z, training=True) if self.predictor is not None else z

    def contrastive_loss(self, view_a, view_b):
        self.support_set.check_batch(view_a, per="global")
        z_a, z_b = self.project(view_a, training=True), self.project(view_b, training=True)
        nn_a, _ = self.nearest_neighbours(z_a)
        nn_b, _ = self.nearest_neighbours(z_b)
        loss = 0.5 * (losses.nnclr_loss(nn_a, self._predict(z_b), self.temperature)
                      + losses.nnclr_loss(nn_b, self._predict(z_a), self.temperature))
        return loss, z_a

    def after_step(self, memory):
        self.support_set.push(memory)

    def get_config(self) -> dict:
        return {**super().get_config(), "queue_size": self.support_set.size, "temperature": self.temperature,
                "predictor": self.predictor_enabled, "prediction_dims": self.prediction_dims}
