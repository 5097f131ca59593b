"""Contrastive losses, one plain function each.

Every loss takes batches of embeddings (NumPy arrays or tensors, shape ``(N, D)``, row ``i``
of one batch paired with row ``i`` of the other), L2-normalises them inside where the method
does, computes in float32 (so it is safe under mixed precision), and returns the mean loss
as a scalar ``tf.Tensor``. Bad input raises a ``ValueError`` (or a ``TypeError``) that says
what is wrong: mismatched shapes, a batch of one, an empty queue, a temperature that is not a
number, <= 0 or below ``MIN_TEMPERATURE``, and, when called eagerly, NaN or inf embeddings.
Inside a ``tf.function`` (a compiled train step) only the static shapes are checked: the
finiteness check would need the values, so a NaN there gives a NaN loss;
``tf.debugging.enable_check_numerics()`` finds the op that made it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import tensorflow as tf

# float32 has a 24-bit significand: a logit cosine / t, as large as 1 / t, is resolved only to
# about 6e-8 / t. At t = 1e-4 that is 6e-4, still fine; far below, the softmax over near-equal
# similarities is rounding noise, and below about 3e-39 the logits overflow to inf (a NaN loss).
# Published temperatures are 0.05 to 1.
MIN_TEMPERATURE = 1e-4


def check_temperature(temperature: float, name: str = "temperature", minimum: float = MIN_TEMPERATURE) -> float:
    """``temperature`` as a float, if it is a real number, finite, > 0 and >= ``minimum``.

    A bool or a non-number raises a ``TypeError``, a bad value a ``ValueError``. The default
    ``minimum`` is ``MIN_TEMPERATURE`` (1e-4), the smallest that float32 logits ``cosine / t``
    carry safely; ``minimum=0`` suits code that subtracts the largest logit first, in float64
    (the kNN vote of ``clr_lib.evaluation``).
    """
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"{name} must be a real number such as 0.1, got {type(temperature).__name__} {temperature!r}.")
    value = float(temperature)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be > 0 and finite, got {temperature!r}: it divides the similarities.")
    if value < minimum:
        raise ValueError(
            f"{name}={value!r} is too small for float32: the logits cosine / {name} reach {1 / value:.3g}, "
            f"resolved only to about {6e-8 / value:.2g}, and overflow to inf (a NaN loss) below 3e-39. "
            f"Use {name} >= {minimum:g} (published values are 0.05 to 1)."
        )
    return value


def _as_float(x, name: str, rank: int) -> tf.Tensor:
    """``x`` as a float32 tensor of rank ``rank``; when eager, also finite."""
    x = tf.cast(tf.convert_to_tensor(x), tf.float32)
    if x.shape.rank != rank:
        raise ValueError(f"{name} must have rank {rank}, got shape {tuple(x.shape)}.")
    if tf.executing_eagerly() and not bool(tf.reduce_all(tf.math.is_finite(x))):
        raise ValueError(
            f"{name} holds NaN or inf values, which would make the loss NaN: check the encoder's "
            "input and the learning rate (tf.debugging.enable_check_numerics() finds the op)."
        )
    return x


def _check_pair(z_a, z_b, names=("z_a", "z_b")) -> tuple[tf.Tensor, tf.Tensor]:
    """Two ``(N, D)`` float32 batches of the same shape, with ``N >= 2``."""
    a, b = _as_float(z_a, names[0], 2), _as_float(z_b, names[1], 2)
    if a.shape.is_fully_defined() and b.shape.is_fully_defined() and a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (N, D), got "
            f"{tuple(a.shape)} and {tuple(b.shape)}: row i of one must pair with row i of the other."
        )
    if a.shape[0] is not None and a.shape[0] < 2:
        raise ValueError(f"A batch of {a.shape[0]} has no negatives: contrastive losses need N >= 2.")
    return a, b


def contrastive_margin_loss(distance, same, margin: float = 1.0) -> tf.Tensor:
    """Hadsell, Chopra & LeCun (2006): pull similar pairs together, push others beyond a margin.

    ``mean(same * d**2 + (1 - same) * max(0, margin - d)**2)``

    Args:
        distance: ``(N,)`` Euclidean distances ``d >= 0`` between the two embeddings of each pair.
        same: ``(N,)`` pair labels, 1 for a similar pair and 0 for a dissimilar one. These are
            labels of *pairs*, not class labels of images.
        margin: dissimilar pairs farther apart than this cost nothing.
    """
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}.")
    d = tf.reshape(tf.cast(tf.convert_to_tensor(distance), tf.float32), [-1])
    y = tf.reshape(tf.cast(tf.convert_to_tensor(same), tf.float32), [-1])
    if d.shape.is_fully_defined() and y.shape.is_fully_defined() and d.shape != y.shape:
        raise ValueError(f"distance and same must have the same length, got {d.shape[0]} and {y.shape[0]}.")
    if tf.executing_eagerly():
        values = y.numpy()
        if not np.isin(values, (0.0, 1.0)).all():
            raise ValueError(
                "same must hold pair labels (1 = similar pair, 0 = dissimilar pair); got values "
                f"{np.unique(values)[:5]}. Class labels of single images are not pair labels: "
                "build pairs with clr_lib.methods.make_pairs."
            )
        if (d.numpy() < 0).any():
            raise ValueError("distance must be >= 0 (a Euclidean distance between two embeddings).")
    return tf.reduce_mean(y * tf.square(d) + (1.0 - y) * tf.square(tf.nn.relu(margin - d)))


def nt_xent(z_a, z_b, temperature: float = 0.5) -> tf.Tensor:
    """NT-Xent, SimCLR's loss (Chen et al. 2020), over the ``2N`` views of ``N`` images.

    With ``z = normalize([z_a; z_b])`` and ``s_ij = z_i . z_j / t``, the anchor ``i`` has its
    other view ``p(i)`` as positive and the other ``2N - 2`` views as negatives::

        l_i = -log( exp(s_i,p(i)) / sum_{j != i} exp(s_ij) )

    Returns the mean of ``l_i`` over all ``2N`` anchors. ``z_a, z_b``: ``(N, D)``.
    """
    temperature = check_temperature(temperature)
    a, b = _check_pair(z_a, z_b)
    z = tf.math.l2_normalize(tf.concat([a, b], axis=0), axis=1)
    n = tf.shape(a)[0]
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    logits = logits - 1e9 * tf.eye(2 * n)  # an anchor is never its own negative
    positives = tf.concat([tf.range(n, 2 * n), tf.range(n)], axis=0)
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positives, logits=logits)
    )


def info_nce(query, key, queue, temperature: float = 0.2) -> tf.Tensor:
    """InfoNCE as MoCo uses it (van den Oord et al. 2018; He et al. 2020).

    Logits ``[q . k+, q . queue^T] / t`` with the positive key at index 0; cross-entropy,
    mean over the batch. ``query, key``: ``(N, D)``; ``queue``: ``(K, D)`` past keys, the
    negatives. All three are L2-normalised here.
    """
    temperature = check_temperature(temperature)
    q, k = _check_pair(query, key, names=("query", "key"))
    negatives = _as_float(queue, "queue", 2)
    if negatives.shape[0] == 0:
        raise ValueError("queue is empty: InfoNCE needs at least one negative key, (K, D) with K >= 1.")
    if q.shape[1] is not None and negatives.shape[1] is not None and q.shape[1] != negatives.shape[1]:
        raise ValueError(
            f"queue rows must have the embedding size of query and key ({q.shape[1]}), got {negatives.shape[1]}."
        )
    q, k = tf.math.l2_normalize(q, axis=1), tf.math.l2_normalize(k, axis=1)
    negatives = tf.math.l2_normalize(negatives, axis=1)
    positive = tf.reduce_sum(q * k, axis=1, keepdims=True)
    logits = tf.concat([positive, tf.matmul(q, negatives, transpose_b=True)], axis=1) / temperature
    labels = tf.zeros(tf.shape(q)[0], dtype=tf.int32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def _decoupled(a: tf.Tensor, b: tf.Tensor, temperature: float, positive_weight) -> tf.Tensor:
    """DCL for anchors ``a`` (positives ``b``): ``-w_i s_ii + log sum_{negatives} exp``, mean over i."""
    n = tf.shape(a)[0]
    off_diagonal = 1e9 * tf.eye(n)
    cross = tf.matmul(a, b, transpose_b=True) / temperature  # a_i . b_j
    within = tf.matmul(a, a, transpose_b=True) / temperature  # a_i . a_j
    negatives = tf.concat([cross - off_diagonal, within - off_diagonal], axis=1)
    positive = tf.linalg.diag_part(cross)
    return tf.reduce_mean(-positive_weight * positive + tf.reduce_logsumexp(negatives, axis=1))


def dcl(z_a, z_b, temperature: float = 0.1) -> tf.Tensor:
    """Decoupled contrastive loss (Yeh et al. 2022): NT-Xent without the positive in the denominator.

    ``l_i = -s_ii + log sum_{j != i} (exp(a_i . a_j / t) + exp(a_i . b_j / t))`` with
    ``s_ii = a_i . b_i / t``; computed in both directions (anchors from ``z_a`` and from
    ``z_b``), mean over all ``2N``. ``z_a, z_b``: ``(N, D)``, L2-normalised here.
    """
    temperature = check_temperature(temperature)
    a, b = _check_pair(z_a, z_b)
    a, b = tf.math.l2_normalize(a, axis=1), tf.math.l2_normalize(b, axis=1)
    return 0.5 * (_decoupled(a, b, temperature, 1.0) + _decoupled(b, a, temperature, 1.0))


def dclw(z_a, z_b, temperature: float = 0.1, sigma: float = 0.5, clamp: bool = False) -> tf.Tensor:
    """Weighted DCL (DCLW, Yeh et al. 2022): DCL with the positive term weighted per pair.

    ``w_i = 2 - N * softmax_i(a_i . b_i / sigma)`` (a von Mises-Fisher weighting: pairs that
    are already close get less weight, hard positives more), treated as a constant (no
    gradient). The weights average 1, and a pair much better aligned than the rest gets a
    *negative* weight (its positive term is then pushed apart); ``clamp=True`` sets such weights
    to 0 instead (the paper has no clamp: the default). ``z_a, z_b``: ``(N, D)``, L2-normalised here.
    """
    temperature = check_temperature(temperature)
    sigma = check_temperature(sigma, "sigma")
    a, b = _check_pair(z_a, z_b)
    a, b = tf.math.l2_normalize(a, axis=1), tf.math.l2_normalize(b, axis=1)
    n = tf.cast(tf.shape(a)[0], tf.float32)
    weight = 2.0 - n * tf.nn.softmax(tf.reduce_sum(a * b, axis=1) / sigma)
    weight = tf.stop_gradient(tf.maximum(weight, 0.0) if clamp else weight)
    return 0.5 * (_decoupled(a, b, temperature, weight) + _decoupled(b, a, temperature, weight))


def nnclr_loss(neighbours, predictions, temperature: float = 0.1) -> tf.Tensor:
    """One direction of NNCLR's loss (Dwibedi et al. 2021).

    ``neighbours``: ``(N, D)`` nearest neighbours of one view's projections in the support set
    (the positives, found without gradient); ``predictions``: ``(N, D)`` the other view's
    predictor outputs. Logits ``normalize(neighbours) @ normalize(predictions)^T / t``, the
    positive on the diagonal; cross-entropy, mean over the batch. NNCLR averages it over both
    directions: ``(nnclr_loss(nn_a, p_b) + nnclr_loss(nn_b, p_a)) / 2``.
    """
    temperature = check_temperature(temperature)
    nn, p = _check_pair(neighbours, predictions, names=("neighbours", "predictions"))
    nn, p = tf.math.l2_normalize(nn, axis=1), tf.math.l2_normalize(p, axis=1)
    logits = tf.matmul(nn, p, transpose_b=True) / temperature
    labels = tf.range(tf.shape(nn)[0])
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def n_pair_loss(anchors, positives) -> tf.Tensor:
    """Multi-class N-pair loss (Sohn 2016): each anchor against the positives of the other pairs.

    With raw dot products (no L2 normalisation, no temperature)::

        l_i = log(1 + sum_{j != i} exp(f_i . f+_j - f_i . f+_i))

    which is the softmax cross-entropy of the logits ``anchors @ positives^T`` with the positive
    on the diagonal; returns the mean over the ``N`` pairs. It is one direction of InfoNCE with
    in-batch negatives and ``f(x, c) = exp(x . c)``: pass ``normalize(z) / sqrt(t)`` to get
    cosine similarities over a temperature ``t``. Sohn keeps the norms small with an L2 penalty
    on the embeddings, which is not part of this function. ``anchors, positives``: ``(N, D)``.
    """
    a, p = _check_pair(anchors, positives, names=("anchors", "positives"))
    logits = tf.matmul(a, p, transpose_b=True)
    labels = tf.range(tf.shape(a)[0])
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
