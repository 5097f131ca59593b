"""Keras callbacks for self-supervised training: a kNN monitor, a wall-clock budget, an average of the
encoder's weights, and the lag of a momentum encoder."""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from clr_lib.augment import check_pixel_scale
from clr_lib.evaluation import extract_features, knn_accuracy
from clr_lib.methods.momentum import frozen_copy


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
        check_pixel_scale(train_images)  # before training, not only at the first evaluation
        check_pixel_scale(test_images)
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


class WeightAverage(keras.callbacks.Callback):
    """An exponential moving average of an encoder's weights, to evaluate in its place.

    After every training batch, ``theta_avg <- d theta_avg + (1 - d) theta`` for every weight of
    ``encoder`` (batch-norm moving statistics included) with ``d = decay``; ``self.encoder`` is
    the averaged copy, frozen, equal to ``encoder`` when training starts. Averaged weights
    sit in a wider, flatter part of the loss surface than the last iterate, which often
    evaluates better at no training cost (Polyak & Juditsky 1992; used for evaluation by, e.g.,
    the airbench and timm training scripts). Its time constant is ``1 / (1 - decay)`` steps.
    """

    def __init__(self, encoder: keras.Model, decay: float = 0.998):
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}: 0.998 averages over about 500 steps.")
        self.online, self.decay = encoder, float(decay)
        self.encoder = frozen_copy(encoder)
        self._pairs = list(zip(self.encoder.weights, encoder.weights))

    def on_train_begin(self, logs=None):
        for average, weight in self._pairs:  # start from the weights training starts from
            average.assign(tf.cast(weight, average.dtype))

    @tf.function
    def _update(self) -> None:
        for average, weight in self._pairs:
            average.assign(self.decay * average + (1.0 - self.decay) * tf.cast(weight, average.dtype))

    def on_train_batch_end(self, batch, logs=None):
        self._update()


class KeyEncoderLag(keras.callbacks.Callback):
    """How far a momentum (key) encoder lags behind the trained (query) encoder, e.g. MoCo's.

    Before the first step and after every ``every`` optimizer steps, for a model with
    ``encoder``/``projector`` and their momentum copies ``key_encoder``/``key_projector``
    (``clr_lib.methods.MoCo``), appends to ``self.history``:

    * ``step``: optimizer steps taken so far;
    * ``parameter_distance``: ``||theta_k - theta_q|| / ||theta_q||``, the relative Euclidean
      distance between the key and query weights, over all trained weights of encoder and head
      (batch-norm running statistics are not parameters and are left out);
    * ``embedding_cosine``: the mean cosine similarity between the query embedding
      ``projector(encoder(x))`` and the key embedding ``key_projector(key_encoder(x))`` of the
      same fixed ``images`` ``(N, H, W, 3)``, both in inference mode (1: the keys agree with
      the queries; lower: the key encoder embeds differently).

    With the query weights held still, ``theta_k <- m theta_k + (1 - m) theta_q`` shrinks the
    distance by exactly ``m`` per step, so ``1 / (1 - m)`` steps is the lag's time constant.
    """

    def __init__(self, images: np.ndarray, every: int = 1, batch_size: int = 256):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}.")
        if len(images) == 0:
            raise ValueError("KeyEncoderLag needs at least one fixed image to embed.")
        self.images, self.every, self.batch_size = images, every, batch_size
        self.history: dict[str, list[float]] = {"step": [], "parameter_distance": [], "embedding_cosine": []}

    def _pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(key, query) values of every trained weight of the query encoder and head."""
        model = self.model
        needed = ("encoder", "projector", "key_encoder", "key_projector")
        missing = [name for name in needed if not hasattr(model, name)]
        if missing:
            raise ValueError(
                f"KeyEncoderLag needs a model with a momentum (key) encoder, such as clr_lib.methods.MoCo; "
                f"{type(model).__name__} has no {', '.join(missing)}."
            )
        keys = model.key_encoder.weights + model.key_projector.weights
        queries = model.encoder.weights + model.projector.weights
        if len(keys) != len(queries) or any(tuple(k.shape) != tuple(q.shape) for k, q in zip(keys, queries)):
            raise ValueError("the key encoder and head must be copies of the query encoder and head, weight by weight.")
        return [(np.asarray(k), np.asarray(q)) for k, q in zip(keys, queries) if getattr(q, "trainable", False)]

    def _embed(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit-length query and key embeddings ``(N, D)`` of the fixed images (one compiled graph)."""
        model = self.model
        if getattr(self, "_graph_of", None) is not model:  # trace once per model, not once per call

            @tf.function(reduce_retracing=True)
            def both(images):
                return (model.projector(model.encoder(images, training=False), training=False),
                        model.key_projector(model.key_encoder(images, training=False), training=False))

            self._graph, self._graph_of = both, model
        chunks = [self._graph(tf.convert_to_tensor(self.images[i:i + self.batch_size]))
                  for i in range(0, len(self.images), self.batch_size)]
        queries, keys = (np.concatenate([np.asarray(c[j], dtype=np.float32) for c in chunks]) for j in (0, 1))
        return tuple(z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12) for z in (queries, keys))

    def measure(self) -> tuple[float, float]:
        """``(parameter_distance, embedding_cosine)`` of the model as it is now."""
        pairs = self._pairs()
        difference = math.sqrt(sum(float(np.sum((k.astype(np.float64) - q) ** 2)) for k, q in pairs))
        size = math.sqrt(sum(float(np.sum(q.astype(np.float64) ** 2)) for _, q in pairs))
        queries, keys = self._embed()
        return difference / size, float(np.mean(np.sum(queries * keys, axis=1)))

    def _record(self) -> None:
        step = int(self.model.optimizer.iterations.numpy())
        if self.history["step"] and self.history["step"][-1] == step:
            return
        distance, cosine = self.measure()
        self.history["step"].append(step)
        self.history["parameter_distance"].append(distance)
        self.history["embedding_cosine"].append(cosine)

    def on_train_begin(self, logs=None):
        self._record()

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) % self.every == 0:
            self._record()
