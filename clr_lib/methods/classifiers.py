"""The classifiers of the first two chapters: the encoder plus a linear layer, trained with labels."""

from __future__ import annotations

import keras
from keras import layers


def supervised_classifier(encoder: keras.Model, num_classes: int) -> keras.Model:
    """The encoder plus a linear layer producing ``num_classes`` logits, trained with labels.

    Compile with ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``. The
    encoder's layers are shared, so ``encoder`` itself holds the trained features afterwards.
    """
    logits = layers.Dense(num_classes, name="logits")(encoder.output)
    return keras.Model(encoder.input, logits, name=f"supervised_{encoder.name}")


def sigmoid_classifier(encoder: keras.Model) -> keras.Model:
    """The encoder plus one sigmoid unit: outputs ``p = sigmoid(w . f(x) + b)`` in (0, 1), shape ``(N, 1)``.

    A binary classifier (train it with binary labels and ``keras.losses.BinaryCrossentropy``).
    Chapter 2 also uses it to show what goes wrong when the margin loss is applied to ``p`` with
    class labels. The encoder's layers are shared, as in ``supervised_classifier``.
    """
    probability = layers.Dense(1, activation="sigmoid", name="probability")(encoder.output)
    return keras.Model(encoder.input, probability, name=f"sigmoid_{encoder.name}")
