"""Supervised contrastive learning (Khosla et al. 2020): NT-Xent whose positives are the whole class."""

from __future__ import annotations

import keras
import tensorflow as tf

from clr_lib import losses
from clr_lib.methods.base import ContrastiveModel, gather_replicas


@keras.saving.register_keras_serializable(package="clr_lib")
class SupCon(ContrastiveModel):
    """SimCLR's model trained with labels: every other view of the same class is a positive.

    Trains on batches ``(view_a, view_b, labels)`` of ``n`` images (``clr_lib.pipeline.
    labeled_views_dataset``). The ``2n`` projections and their labels go to
    ``clr_lib.losses.supcon`` (the paper's ``L_out``); with one image per class it is SimCLR's
    NT-Xent. Under ``tf.distribute`` every replica gathers the projections and labels of the
    whole global batch and computes its loss over all of them, so that the summed gradients are
    those of the global loss. The paper trains at temperature 0.1.
    """

    uses_labels = True

    def __init__(self, encoder: keras.Model, temperature: float = 0.1, **kwargs):
        losses.check_temperature(temperature)
        super().__init__(encoder, **kwargs)
        self.temperature = temperature

    def views_loss(self, views):
        if len(views) != 3:
            raise ValueError(
                f"SupCon trains on batches (view_a, view_b, labels), got {len(views)} items per batch: "
                "make them with clr_lib.pipeline.labeled_views_dataset(images, labels, batch_size)."
            )
        view_a, view_b, labels = views
        z = tf.concat([self.project(view_a, training=True), self.project(view_b, training=True)], axis=0)
        labels = tf.concat([labels, labels], axis=0)
        return losses.supcon(gather_replicas(z), gather_replicas(labels), self.temperature), None

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature}
