"""Keras callbacks for self-supervised training."""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from clr_lib.evaluation import extract_features, knn_accuracy


class KNNMonitor(keras.callbacks.Callback):
    """Writes the weighted-kNN accuracy of the encoder's features as ``val_knn_acc`` into the epoch logs.

    Every ``every`` epochs ``encoder`` (default: the model's ``encoder``, else the model) embeds the labelled training and test images, and each test image is classified by its
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
        encoder: keras.Model | None = None,
    ):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every}.")
        if len(train_images) != len(train_labels) or len(test_images) != len(test_labels):
            raise ValueError("KNNMonitor needs one label per image for both the training and the test images.")
        self.train_images, self.train_labels = train_images, np.asarray(train_labels).reshape(-1)
        self.test_images, self.test_labels = test_images, np.asarray(test_labels).reshape(-1)
        self.every, self.k, self.temperature, self.batch_size = every, k, temperature, batch_size
        self.encoder = encoder

    def evaluate(self) -> float:
        """The kNN accuracy of the current encoder."""
        encoder = self.encoder or getattr(self.model, "encoder", self.model)
        train = extract_features(encoder, self.train_images, self.batch_size)
        test = extract_features(encoder, self.test_images, self.batch_size)
        return knn_accuracy(train, self.train_labels, test, self.test_labels, self.k, self.temperature)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None and (epoch + 1) % self.every == 0:
            logs["val_knn_acc"] = self.evaluate()


class TimeBudget(keras.callbacks.Callback):
    """Train for a wall-clock budget: warm-up then cosine learning rate over the *elapsed time*, then stop.

    The learning rate at a fraction ``f`` of the budget is ``peak * f / warmup`` during warm-up
    and ``peak * (1 + cos(pi * (f - warmup) / (1 - warmup))) / 2`` afterwards; training stops
    after the first batch that ends past the budget. Only time inside epochs counts, so
    evaluation callbacks that run between epochs (such as ``KNNMonitor``) are not charged.
    The optimizer must have a plain float learning rate (not a schedule).
    """

    def __init__(self, seconds: float, peak_learning_rate: float, warmup: float = 0.05, clock=None):
        super().__init__()
        if seconds <= 0 or not 0 <= warmup < 1:
            raise ValueError(f"Need seconds > 0 and 0 <= warmup < 1, got {seconds} and {warmup}.")
        self.seconds, self.peak, self.warmup = seconds, peak_learning_rate, warmup
        self.clock = clock or time.perf_counter
        self.spent = 0.0

    def learning_rate(self, fraction: float) -> float:
        """The learning rate after ``fraction`` of the budget."""
        if fraction < self.warmup:
            return self.peak * fraction / self.warmup
        progress = min(1.0, (fraction - self.warmup) / (1 - self.warmup))
        return self.peak * 0.5 * (1 + math.cos(math.pi * progress))

    def elapsed(self) -> float:
        return self.spent + (self.clock() - self.epoch_start)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = self.clock()

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.learning_rate(self.elapsed() / self.seconds))

    def on_train_batch_end(self, batch, logs=None):
        if self.elapsed() >= self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.spent = self.elapsed()
        if logs is not None:
            logs["train_seconds"] = self.spent
