"""Contrastive losses row by row: this replica's anchors against the candidates of the global batch.

Under ``tf.distribute`` each of the ``R`` replicas holds ``n`` of the ``N = R * n`` images of a
global batch. With the candidates gathered from every replica (``base.gather_replicas``) and only
its own ``n`` (or ``2n``) anchors, a replica computes just its rows of the global logit matrix:
``(2n, 2N)`` instead of ``(2N, 2N)`` for SimCLR, ``R`` times less compute and memory, as in the
official SimCLR code, lightly and solo-learn. The mean of the replicas' losses is the loss of the
global batch. On one device ``n = N``, and these are the full-matrix losses of ``clr_lib.losses``.

Every function takes and returns float32 tensors; ``logits`` expects L2-normalised rows.
"""

from __future__ import annotations

import tensorflow as tf

from clr_lib.methods.base import gather_replicas, num_replicas, replica_rows

_MASKED = 1e9  # subtracted from a logit to take its candidate out of a softmax


def unit(z: tf.Tensor) -> tf.Tensor:
    """``z / ||z||`` row by row, in float32 (safe under mixed precision)."""
    return tf.math.l2_normalize(tf.cast(z, tf.float32), axis=1)


def logits(anchors: tf.Tensor, candidates: tf.Tensor, temperature: float) -> tf.Tensor:
    """``s_ij = anchor_i . candidate_j / t``: ``(n, D)`` and ``(M, D)`` unit rows give ``(n, M)``."""
    return tf.matmul(anchors, candidates, transpose_b=True) / temperature


def two_view_rows(z_a: tf.Tensor, z_b: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """This replica's ``2n`` views as anchors, the ``2N`` views of the global batch as candidates.

    ``z_a, z_b``: this replica's projections ``(n, D)``. Returns, all L2-normalised:

    * ``anchors`` ``(2n, D)``: ``[z_a; z_b]``;
    * ``candidates`` ``(2N, D)``: ``[Z_a; Z_b]``, the views a of the global batch, then its views b;
    * ``own`` ``(2n,)``: the column of each anchor itself among the candidates;
    * ``positive`` ``(2n,)``: the column of its other view (``own`` of a_i is ``g_i``, its
      positive ``N + g_i``, with ``g_i`` the image's index in the global batch; and conversely for b_i).
    """
    if z_a.shape[0] is not None and z_a.shape[0] * num_replicas() < 2:
        raise ValueError("A global batch of 1 image has no negatives: contrastive losses need N >= 2.")
    a, b = unit(z_a), unit(z_b)
    big_n = tf.shape(a)[0] * num_replicas()
    rows = replica_rows(tf.shape(a)[0])
    candidates = tf.concat([gather_replicas(a), gather_replicas(b)], axis=0)
    own = tf.concat([rows, rows + big_n], axis=0)
    positive = tf.concat([rows + big_n, rows], axis=0)
    return tf.concat([a, b], axis=0), candidates, own, positive


def _positive_logit(scores: tf.Tensor, positive: tf.Tensor) -> tf.Tensor:
    return tf.gather(scores, positive, batch_dims=1)


def cross_entropy(scores: tf.Tensor, positive: tf.Tensor, exclude: tf.Tensor | None = None) -> tf.Tensor:
    """Softmax cross-entropy of each row of ``scores`` ``(n, M)`` with its ``positive`` column, per row ``(n,)``.

    ``l_i = -s_{i,p_i} + log sum_{j != e_i} exp(s_ij)``: NT-Xent (Chen et al. 2020) with the
    anchor's own column ``e_i = exclude_i`` left out; NNCLR's loss (Dwibedi et al. 2021) with
    ``exclude=None``.
    """
    if exclude is not None:
        scores = scores - _MASKED * tf.one_hot(exclude, tf.shape(scores)[1])
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positive, logits=scores)


def decoupled(scores: tf.Tensor, positive: tf.Tensor, exclude: tf.Tensor, weight: tf.Tensor | float = 1.0) -> tf.Tensor:
    """DCL (Yeh et al. 2022) per row ``(n,)``: the positive out of the denominator.

    ``l_i = -w_i s_{i,p_i} + log sum_{j not in {p_i, e_i}} exp(s_ij)`` for ``scores`` ``(n, M)``;
    ``weight`` ``w_i`` is 1 for DCL, ``dclw_weights`` for DCLW.
    """
    width = tf.shape(scores)[1]
    negatives = scores - _MASKED * (tf.one_hot(positive, width) + tf.one_hot(exclude, width))
    return -weight * _positive_logit(scores, positive) + tf.reduce_logsumexp(negatives, axis=1)


def dclw_weights(candidates: tf.Tensor, own: tf.Tensor, sigma: float, clamp: bool = False) -> tf.Tensor:
    """DCLW's weight of each anchor's positive term (Yeh et al. 2022), without gradient, ``(2n,)``.

    ``w_i = 2 - exp(s_i / sigma) / mean_j exp(s_j / sigma) = 2 - N softmax_i(s / sigma)``, with
    ``s_i = Z_a[i] . Z_b[i]`` the positive cosines of the *global* batch, read from ``candidates``
    ``(2N, D)`` (unit rows, views a then views b); ``own`` ``(2n,)`` are the anchors' columns, so
    both views of image ``i`` get ``w_i``. The weights average 1 over the batch, and a pair much
    better aligned than the rest gets a negative one (the loss then pushes its views apart);
    ``clamp=True`` uses ``max(w_i, 0)`` instead.
    """
    big_n = tf.shape(candidates)[0] // 2
    cosine = tf.reduce_sum(candidates[:big_n] * candidates[big_n:], axis=1)
    weight = 2.0 - tf.cast(big_n, tf.float32) * tf.nn.softmax(cosine / sigma)
    if clamp:
        weight = tf.maximum(weight, 0.0)
    return tf.stop_gradient(tf.gather(weight, own % big_n))
