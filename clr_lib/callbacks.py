"""Keras callbacks for self-supervised training."""

from __future__ import annotations

import keras
import numpy as np

from clr_lib.evaluation import extract_features, knn_accuracy


class KNNMonitor(keras.callbacks.Callback):
    """Writes the weighted-kNN accuracy of the encoder's features as ``val_knn_acc`` into the epoch logs.

    Every ``every`` epochs the model's ``encoder`` (or the model itself when it has none)
    embeds the labelled training and test images, and each test image is classified by its
    ``k`` nearest training images (``clr_lib.evaluation.knn_accuracy``). Because the value
    lands in the logs, the progress bar, ``History``, ``EarlyStopping`` and
    ``ModelCheckpoint`` (placed after this callback) can all use it.
    """

    def __init__(
        self,
        train_images: np.ndarray,
        train_labels: np.ndarray,
        test_images: np.ndarray,
        test_labels: np.ndarray,
        every: int = 1,
        k: int = 200,
        temperature: float = 0.1,
        batch_size: int = 512,
    ):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every}.")
        if len(train_images) != len(train_labels) or len(test_images) != len(test_labels):
            raise ValueError("KNNMonitor needs one label per image for both the training and the test images.")
        self.train_images, self.train_labels = train_images, np.asarray(train_labels).reshape(-1)
        self.test_images, self.test_labels = test_images, np.asarray(test_labels).reshape(-1)
        self.every, self.k, self.temperature, self.batch_size = every, k, temperature, batch_size

    def evaluate(self) -> float:
        """The kNN accuracy of the current encoder."""
        encoder = getattr(self.model, "encoder", self.model)
        train = extract_features(encoder, self.train_images, self.batch_size)
        test = extract_features(encoder, self.test_images, self.batch_size)
        return knn_accuracy(train, self.train_labels, test, self.test_labels, self.k, self.temperature)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None and (epoch + 1) % self.every == 0:
            logs["val_knn_acc"] = self.evaluate()
