"""The one training loop every contrastive method shares.

``ContrastiveModel`` is a ``keras.Model`` that trains on a ``tf.data`` dataset of view pairs
``(view_a, view_b)`` with plain ``compile``/``fit``. A method subclass declares only what
differs: its heads and extra state in ``__init__``, its loss in ``contrastive_loss``, and
optionally what happens after each optimizer step in ``after_step`` (a momentum update, a
queue to fill with the embeddings the loss handed over). The encoder, ``model.encoder``, is what downstream tasks keep.

Under a ``tf.distribute`` strategy, ``contrastive_loss`` runs once per replica on that replica's
slice of the global batch and returns the mean over the replica's own anchors; ``train_step``
divides it by the number of replicas, so that the summed gradients are those of the global mean.
``gather_replicas`` and ``replica_rows`` let a loss compare its local anchors with the candidates
of the whole global batch.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import keras
import tensorflow as tf

from clr_lib import models


def num_replicas() -> int:
    """How many replicas (devices) the current ``tf.distribute`` strategy trains on; 1 without one."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def gather_replicas(x: tf.Tensor) -> tf.Tensor:
    """Concatenate ``x`` from every replica along the batch axis (differentiable); ``x`` itself on one device.

    ``(n, ...)`` per replica becomes ``(R * n, ...)``, replica 0's rows first; the gradient with
    respect to a row flows back to the replica that computed it.
    """
    if num_replicas() == 1:
        return x
    return tf.distribute.get_replica_context().all_gather(x, axis=0)


def replica_id() -> tf.Tensor:
    """This replica's index, an int32 scalar in ``[0, num_replicas())``; 0 on one device."""
    if num_replicas() == 1:
        return tf.constant(0, tf.int32)
    return tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int32)


def replica_rows(n: int | tf.Tensor) -> tf.Tensor:
    """Where this replica's ``n`` rows sit in a batch gathered by ``gather_replicas``.

    Returns the int32 indices ``replica_id() * n + [0, 1, ..., n - 1]``, shape ``(n,)``: the
    labels of local anchors whose positives are their own rows among the gathered candidates (as
    in the official SimCLR code and solo-learn). ``[0, ..., n - 1]`` on one device.
    """
    return replica_id() * n + tf.range(n, dtype=tf.int32)


class UnsynchronizedBatchNormWarning(UserWarning):
    """Training on several replicas with batch normalisation that is not synchronised across them."""


def _batch_norm_layers(layer: keras.layers.Layer) -> Iterator[keras.layers.BatchNormalization]:
    """Every batch-normalisation layer inside ``layer``, nested models included."""
    for sublayer in getattr(layer, "layers", []):
        if isinstance(sublayer, keras.layers.BatchNormalization):
            yield sublayer
        else:
            yield from _batch_norm_layers(sublayer)


def _is_distributed(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` is a ``tf.distribute`` strategy rather than TensorFlow's default (no strategy)."""
    with strategy.scope():
        return tf.distribute.has_strategy()


class ContrastiveModel(keras.Model):
    """Base class: an encoder, a projection head, and the training step on two views.

    Args:
        encoder: maps images ``(N, H, W, 3)`` to features ``(N, D)`` (see ``clr_lib.models``).
        projection_dims: layer sizes of the projection head.
        head_batch_norm: batch normalisation inside the heads.
        sync_batch_norm: synchronise the heads' batch statistics across replicas (use an encoder
            built with ``sync_batch_norm=True`` too).
    """

    uses_labels = False  # True: trains on batches (view_a, view_b, labels) (SupCon)

    def __init__(
        self,
        encoder: keras.Model,
        projection_dims: tuple[int, ...] = (512, 128),
        head_batch_norm: bool = True,
        sync_batch_norm: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.projection_dims = tuple(projection_dims)
        self.head_batch_norm = head_batch_norm
        self.sync_batch_norm = sync_batch_norm
        self.feature_dim = int(encoder.output_shape[-1])
        self.projector = models.projection_head(self.projection_dims, head_batch_norm, sync_batch_norm)
        self.projector.build((None, self.feature_dim))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True  # every variable exists once a subclass's __init__ has run

    # --- what a method declares -------------------------------------------------------
    def contrastive_loss(self, view_a: tf.Tensor, view_b: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor | None]:
        """The method's loss on a batch of view pairs ``(n, H, W, 3)`` (training mode), and the
        embeddings, if any, that ``after_step`` should remember.

        Under a strategy: this replica's slice, with the loss averaged over its own anchors, so
        that the mean over the replicas is the loss of the global batch.
        """
        raise NotImplementedError

    def after_step(self, memory: tf.Tensor | None) -> None:
        """State updates after the optimizer step (nothing by default)."""

    def views_loss(self, views: tuple[tf.Tensor, ...]) -> tuple[tf.Tensor, tf.Tensor | None]:
        """The loss on all the views of a batch, as ``contrastive_loss`` returns it. A method
        trains on the two views ``(view_a, view_b)``; ``PairLossModel`` also takes multi-crop's
        small views after them."""
        if len(views) != 2:
            raise ValueError(
                f"{type(self).__name__} trains on two views per image, got {len(views)}: multi-crop's small views "
                "are for the methods built on PairLossModel (SimCLR, DCL, MarginContrastive). Pass num_small=0."
            )
        return self.contrastive_loss(*views)

    # --- shared machinery --------------------------------------------------------------
    def call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The representation downstream tasks use: encoder features ``(N, D)``."""
        return self.encoder(images, training=training)

    def project(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Projection-head outputs ``(N, projection_dims[-1])``, the space the loss works in."""
        return self.projector(self.encoder(images, training=training), training=training)

    def compile(self, optimizer="adam", jit_compile: bool | str = "auto", **kwargs) -> None:
        """``keras.Model.compile`` with XLA (``jit_compile="auto"``) on a GPU and a plain graph
        elsewhere: on a CPU, TensorFlow's graph runs oneDNN's convolutions, which measured 1.4 to
        1.65 times XLA's speed for the course's encoders (``benchmarks/throughput.py``), and under a
        ``tf.distribute`` strategy the step is a plain graph too.

        The strategy is the model's own, ``self.distribute_strategy`` (the one whose scope the
        model was built in), wherever ``compile`` is called. With more than one replica, an
        ``UnsynchronizedBatchNormWarning`` names the batch-normalisation layers that are not
        synchronised.
        """
        strategy = self.distribute_strategy
        if jit_compile == "auto":
            jit_compile = bool(tf.config.list_physical_devices("GPU")) and not _is_distributed(strategy)
        if strategy.num_replicas_in_sync > 1:
            self._warn_unsynchronized_batch_norm(strategy.num_replicas_in_sync)
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def _warn_unsynchronized_batch_norm(self, replicas: int) -> None:
        names = [layer.name for layer in _batch_norm_layers(self) if not layer.synchronized]
        if names:
            warnings.warn(
                f"{len(names)} batch-normalisation layers ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}) "
                f"are not synchronised across the {replicas} replicas: each replica normalises with the "
                "statistics of its own slice, so training differs from one device on the same global batch, "
                "and the positive pairs of a slice share its statistics. Build the encoder and the method "
                "with sync_batch_norm=True.",
                UnsynchronizedBatchNormWarning,
                stacklevel=3,
            )

    def fit(self, *args, shuffle: bool = False, **kwargs):
        """``keras.Model.fit``, with ``shuffle=False`` by default: the view pairs come from a
        ``tf.data`` dataset, which shuffles itself (Keras warns when asked to shuffle one)."""
        return super().fit(*args, shuffle=shuffle, **kwargs)

    def compile_from_config(self, config: dict) -> None:
        """Restore the compiled state (optimizer and its slots) when ``keras.models.load_model`` reads a saved model."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker]

    def train_step(self, data) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            loss, memory = self.views_loss(tuple(data))
            # Each replica's gradients are summed across replicas: divide so they add up to the mean.
            scaled = self.optimizer.scale_loss(loss / num_replicas())
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        self.after_step(memory)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "projection_dims": self.projection_dims,
            "head_batch_norm": self.head_batch_norm,
            "sync_batch_norm": self.sync_batch_norm,
        }

    @classmethod
    def from_config(cls, config: dict) -> "ContrastiveModel":
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


class PairLossModel(ContrastiveModel):
    """A method whose loss is a function of the projections of the two views and nothing else:
    SimCLR, DCL, the margin model (and VICReg or Barlow Twins, were they added). It declares
    only ``pair_loss``; there is no state to update after a step.
    """

    def pair_loss(self, z_a: tf.Tensor, z_b: tf.Tensor) -> tf.Tensor:
        """The loss of this replica's projections ``(n, D)`` of views a and b (the mean over its own
        anchors, as ``contrastive_loss`` says)."""
        raise NotImplementedError

    def contrastive_loss(self, view_a, view_b):
        return self.views_loss((view_a, view_b))

    def views_loss(self, views):
        """``pair_loss(z_a, z_b)`` on two views. With multi-crop's ``M`` small views after them (Caron
        et al. 2020): the mean of ``pair_loss`` over the ``1 + 2M`` pairs that hold a large view,
        ``(a, b)``, then ``(a, s_k)`` and ``(b, s_k)`` for each small view; each view is projected once."""
        if len(views) < 2:
            raise ValueError(f"{type(self).__name__} needs at least two views per image, got {len(views)}.")
        side = tuple(self.encoder.input_shape[1:3])
        if None not in side and any(tuple(view.shape[1:3]) != side for view in views[2:]):
            raise ValueError(f"the encoder takes {side[0]} x {side[1]} images only, but the small views are "
                             f"{views[2].shape[1]} x {views[2].shape[2]}: build it with input_shape=(None, None, 3).")
        z = [self.project(view, training=True) for view in views]
        pairs = [(0, 1)] + [(large, k) for k in range(2, len(z)) for large in (0, 1)]
        return tf.add_n([self.pair_loss(z[i], z[j]) for i, j in pairs]) / len(pairs), None


class FifoQueue:
    """A first-in-first-out memory of the most recent embeddings, newest first, held in a
    non-trainable variable of its owner (MoCo's queue of keys, NNCLR's support set)."""

    def __init__(self, owner: keras.Model, size: int, dim: int, name: str):
        if size < 1:
            raise ValueError(f"{name} size must be a positive number of embeddings, got {size}.")
        self.size = size
        self.name = name
        initial = keras.initializers.RandomNormal(seed=0)
        self.variable = owner.add_weight(
            shape=(size, dim), initializer=initial, trainable=False, name=name, aggregation="only_first_replica"
        )
        self.variable.assign(tf.math.l2_normalize(self.variable, axis=1))

    def value(self) -> tf.Tensor:
        return tf.convert_to_tensor(self.variable)

    def check_batch(self, batch: tf.Tensor, per: str) -> None:
        """At trace time: the queue must hold a whole number of (global) batches."""
        n = batch.shape[0]
        if n is None:
            raise ValueError(
                f"{self.name} needs batches of a fixed size: batch the dataset with drop_remainder=True."
            )
        if self.size % (n * num_replicas()) != 0:
            raise ValueError(
                f"{self.name} size {self.size} is not a multiple of the {per} batch size "
                f"{n * num_replicas()}: choose a size like {max(1, self.size // (n * num_replicas())) * n * num_replicas()}."
            )

    def push(self, embeddings: tf.Tensor) -> None:
        """Put the (normalised, gradient-free) embeddings of every replica at the front; drop the oldest."""
        new = tf.stop_gradient(gather_replicas(tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=1)))
        n = tf.shape(new)[0]
        self.variable.assign(tf.concat([new, self.variable[: self.size - n]], axis=0))
