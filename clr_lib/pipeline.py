"""``tf.data`` input pipelines: the one place where images become training batches.

Augmentation runs inside the pipeline, in parallel with the training step, never in a
Python loop: ``model.fit`` pulls ready batches while the CPU cores augment the next ones.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from clr_lib.augment import check_pixel_scale, simclr_augment, two_views


def _images_dataset(images: np.ndarray, batch_size: int, shuffle: bool, seed: int | None, labels=None):
    if batch_size < 2 or batch_size > len(images):
        raise ValueError(f"batch_size must be between 2 and the number of images ({len(images)}), got {batch_size}.")
    if labels is not None and len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} and {len(labels)}.")
    check_pixel_scale(images)  # here the images are still values; the pipeline is a graph
    ds = tf.data.Dataset.from_tensor_slices(images if labels is None else (images, labels))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds


def pretraining_dataset(
    images: np.ndarray,
    batch_size: int,
    augment: keras.layers.Layer | None = None,
    seed: int | None = None,
    shuffle: bool = True,
    small_augment: keras.layers.Layer | None = None,
    num_small: int = 0,
    labels: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Unlabelled images ``(N, H, W, 3)`` as shuffled batches of view pairs ``(view_a, view_b)``.

    Batches have exactly ``batch_size`` images (the last partial batch is dropped, which
    queue-based methods need); ``augment`` defaults to ``simclr_augment()``. A new
    shuffle and new views every epoch; a fixed ``seed`` repeats the whole sequence.
    Multi-crop: ``num_small`` more views per image from ``small_augment`` follow the pair
    (``augment.two_views``); the methods built on ``PairLossModel`` train on them.
    With ``labels`` (one integer class per image), each batch ends with its labels (int32).
    """
    labels = None if labels is None else np.asarray(labels, np.int32).reshape(-1)
    ds = _images_dataset(images, batch_size, shuffle, seed, labels).batch(batch_size, drop_remainder=True)
    views = two_views(ds, augment if augment is not None else simclr_augment(), seed=seed,
                      small_augment=small_augment, num_small=num_small, keep_labels=labels is not None)
    return views.prefetch(tf.data.AUTOTUNE)


def labeled_views_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    augment: keras.layers.Layer | None = None,
    seed: int | None = None,
    shuffle: bool = True,
) -> tf.data.Dataset:
    """``pretraining_dataset`` with the labels kept: batches ``(view_a, view_b, labels)``, for
    supervised contrastive learning (``clr_lib.methods.SupCon``). Same shuffles and views as
    ``pretraining_dataset`` for the same ``seed``."""
    return pretraining_dataset(images, batch_size, augment, seed, shuffle, labels=labels)


def labeled_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    augment: keras.layers.Layer | None = None,
    seed: int | None = None,
    shuffle: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(images, labels)`` for supervised training, optionally augmented per image."""
    ds = _images_dataset(images, batch_size, shuffle, seed, labels=np.asarray(labels).reshape(-1)).batch(batch_size)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
