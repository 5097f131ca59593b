"""Which rows of a global batch's logit matrix this replica computes, for the row-wise losses.

Under ``tf.distribute`` each of the ``R`` replicas holds ``n`` of the ``N = R * n`` images of a
global batch. With the candidates gathered from every replica (``base.gather_replicas``) and only
its own ``n`` (or ``2n``) anchors, a replica computes just its rows of the global logit matrix:
``(2n, 2N)`` instead of ``(2N, 2N)`` for SimCLR, ``R`` times less compute and memory, as in the
official SimCLR code, lightly and solo-learn. The losses of those rows are ``clr_lib.losses``'s
row functions (``nt_xent_rows``, ``dcl_rows``, ``dclw_weights``); the mean of the replicas'
losses is the loss of the global batch. On one device ``n = N``: the full-matrix losses.
"""

from __future__ import annotations

import tensorflow as tf

from clr_lib.methods.base import gather_replicas, num_replicas, replica_rows


def unit(z: tf.Tensor) -> tf.Tensor:
    """``z / ||z||`` row by row, in float32 (safe under mixed precision)."""
    return tf.math.l2_normalize(tf.cast(z, tf.float32), axis=1)


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
