"""NNCLR (Dwibedi et al. 2021): nearest neighbors from a support set as positives."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from clr_lib import losses, models
from clr_lib.methods import _rowwise
from clr_lib.methods.base import ContrastiveModel, FifoQueue, gather_replicas, replica_rows


@keras.saving.register_keras_serializable(package="clr_lib")
class NNCLR(ContrastiveModel):
    """NNCLR: each projection is replaced by its nearest neighbor (cosine) in a support set.

    ``prediction_dims`` defaults to the projection head's first and last sizes. The support set
    is a FIFO of the ``queue_size`` most recent projections (view a). The neighbor, found
    without gradient, is the positive for the other view's predictor output, against the
    predictions of the other images of the batch (``clr_lib.losses.nnclr_loss``)::

        L(NN(z), p)_i = -log( exp(NN(z_i) . p_i / t) / sum_k exp(NN(z_i) . p_k / t) )

    all vectors unit length; the loss is symmetrised: ``(L(NN(z_a), p_b) + L(NN(z_b), p_a)) / 2``.
    With ``predictor=False`` the projections themselves play the predictions' part. Under
    ``tf.distribute`` the predictions of every replica are gathered, so each replica contrasts its
    ``n`` neighbors with the ``N`` predictions of the global batch, its own at rows
    ``replica_rows(n)`` (as solo-learn does): the loss of one device on the global batch.

    ``keep_views=(height, width)`` also keeps, in a parallel FIFO ``support_views`` of
    ``(queue_size, height, width, 3)`` uint8 pixels, the view-a image behind every support-set
    entry, so that ``support_views[neighbors(images)[0]]`` shows which views serve as positives
    (``queue_size * height * width * 3`` bytes, 7 MB for 4,096 views of 24 x 24 pixels). Rows not
    yet written hold the queue's random initial vectors and black views. Off by default.
    """

    def __init__(
        self,
        encoder: keras.Model,
        queue_size: int = 8192,
        temperature: float = 0.1,
        predictor: bool = True,
        prediction_dims: tuple[int, ...] | None = None,
        keep_views: tuple[int, int] | None = None,
        **kwargs,
    ):
        losses.check_temperature(temperature)
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
        self.keep_views = None
        self.support_views = None
        if keep_views is not None:
            if len(keep_views) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in keep_views):
                raise ValueError(f"keep_views must be the (height, width) of the training views in pixels, "
                                 f"e.g. (24, 24), or None; got {keep_views!r}.")
            self.keep_views = (int(keep_views[0]), int(keep_views[1]))
            self.support_views = self.add_weight(
                shape=(queue_size, *self.keep_views, 3), initializer="zeros", dtype="uint8", trainable=False,
                name="support_views", aggregation="only_first_replica",
            )

    def nearest_neighbors(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The support-set rows most cosine-similar to each row of ``z``, and their indices."""
        support = self.support_set.value()
        similarity = tf.matmul(tf.math.l2_normalize(tf.cast(z, tf.float32), axis=1), support, transpose_b=True)
        index = tf.argmax(similarity, axis=1)
        return tf.stop_gradient(tf.gather(support, index)), index

    def neighbors(self, images: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Which support-set entry NNCLR would take as the positive of each image, as things stand.

        ``images`` ``(N, H, W, 3)`` on 0..255 are projected in inference mode (batch norm with
        its running statistics, no augmentation; training projects augmented views in training
        mode), and each projection ``z`` is matched to the support-set row ``s`` of highest cosine
        similarity ``z.s / |z|`` (the rows are unit vectors). Returns ``(indices, similarities)``,
        both ``(N,)``: int64 rows of the support set (and of ``support_views``) and float32 cosines.
        """
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
            raise ValueError(f"images must be a non-empty (N, H, W, 3) batch, got shape {images.shape}: "
                             "add the batch axis for a single image (images[None]).")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive number of images, got {batch_size}.")
        support = self.support_set.value()
        indices, similarities = [], []
        for start in range(0, len(images), batch_size):
            z = tf.math.l2_normalize(tf.cast(self.project(images[start:start + batch_size]), tf.float32), axis=1)
            cosine = tf.matmul(z, support, transpose_b=True)
            indices.append(tf.argmax(cosine, axis=1).numpy())
            similarities.append(tf.reduce_max(cosine, axis=1).numpy())
        return np.concatenate(indices).astype(np.int64), np.concatenate(similarities).astype(np.float32)

    def _global_predictions(self, z: tf.Tensor) -> tf.Tensor:
        """The unit-length predictions ``(N, D)`` of the global batch, from this replica's projections ``(n, D)``."""
        p = self.predictor(z, training=True) if self.predictor is not None else z
        return gather_replicas(_rowwise.unit(p))

    def _direction(self, neighbors: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
        """One direction of the loss for each local neighbor ``(n,)``: ``(n, D)`` neighbors
        against the ``(N, D)`` gathered predictions, the positive at the neighbor's own row."""
        scores = losses.similarity_logits(_rowwise.unit(neighbors), predictions, self.temperature)
        return losses.nt_xent_rows(scores, replica_rows(tf.shape(neighbors)[0]))

    def contrastive_loss(self, view_a, view_b):
        self.support_set.check_batch(view_a, per="global")
        z_a, z_b = self.project(view_a, training=True), self.project(view_b, training=True)
        nn_a, _ = self.nearest_neighbors(z_a)
        nn_b, _ = self.nearest_neighbors(z_b)
        p_a, p_b = self._global_predictions(z_a), self._global_predictions(z_b)
        loss = 0.5 * tf.reduce_mean(self._direction(nn_a, p_b) + self._direction(nn_b, p_a))
        if self.keep_views is None:
            return loss, z_a
        if tuple(view_a.shape[1:3]) != self.keep_views:
            raise ValueError(f"keep_views is {self.keep_views} but the training views are "
                             f"{tuple(view_a.shape[1:3])} pixels: pass keep_views=(height, width) of the views.")
        return loss, (z_a, view_a)

    def after_step(self, memory):
        if self.keep_views is None:
            self.support_set.push(memory)
            return
        z_a, view_a = memory
        self.support_set.push(z_a)
        pixels = gather_replicas(tf.cast(tf.round(tf.clip_by_value(tf.cast(view_a, tf.float32), 0.0, 255.0)), tf.uint8))
        kept = self.support_views.shape[0] - tf.shape(pixels)[0]
        self.support_views.assign(tf.concat([pixels, self.support_views[:kept]], axis=0))

    def get_config(self) -> dict:
        return {**super().get_config(), "queue_size": self.support_set.size, "temperature": self.temperature,
                "predictor": self.predictor_enabled, "prediction_dims": self.prediction_dims,
                "keep_views": self.keep_views}
