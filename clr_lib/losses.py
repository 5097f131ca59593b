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

The losses over two views are built from row functions, the loss of each anchor (row) of a
logit matrix ``scores`` ``(n, M)``: ``similarity_logits``, ``nt_xent_rows``, ``dcl_rows`` and
``dclw_weights``. With all ``N`` images as anchors (``n = N``) they give the full-matrix losses
above; under ``tf.distribute`` a replica passes only its own ``n`` anchors against the
candidates gathered from every replica, a slice of the global matrix (``clr_lib.methods``).
They take float32 tensors, L2-normalised where stated, and check nothing.
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

_MASKED = 1e9  # subtracted from a logit to take its candidate out of a softmax


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
        what = " (a batch of embeddings, (N, D))" if rank == 2 else ""
        raise ValueError(f"{name} must have rank {rank}{what}, got shape {tuple(x.shape)}.")
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
    margin = check_margin(margin, normalize=False)
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


def check_margin(margin: float, normalize: bool = True) -> float:
    """``margin`` as a float if it is > 0 and, on L2-normalised embeddings (``normalize``), within reach: <= 2."""
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}: dissimilar pairs are pushed out to this distance.")
    if normalize and margin > 2:
        raise ValueError(
            f"margin {margin!r} is out of reach: normalised embeddings are at most 2 apart. "
            "Choose a margin in (0, 2], or normalize=False."
        )
    return float(margin)


def pair_distances(z_a, z_b, normalize: bool = True) -> tf.Tensor:
    """Euclidean distances ``D_ij = ||a_i - b_j||`` between every row of ``z_a`` ``(N, D)`` and of ``z_b`` ``(M, D)``: ``(N, M)``.

    With ``normalize``, the rows are L2-normalised first (distances then lie in [0, 2]). A small
    floor inside the square root keeps the gradient finite at distance 0.
    """
    a, b = _as_float(z_a, "z_a", 2), _as_float(z_b, "z_b", 2)
    if a.shape[1] is not None and b.shape[1] is not None and a.shape[1] != b.shape[1]:
        raise ValueError(f"z_a and z_b must have the same embedding size, got {a.shape[1]} and {b.shape[1]}.")
    if normalize:
        a, b = tf.math.l2_normalize(a, axis=1), tf.math.l2_normalize(b, axis=1)
    squared = (tf.reduce_sum(tf.square(a), axis=1)[:, None] + tf.reduce_sum(tf.square(b), axis=1)[None, :]
               - 2.0 * tf.matmul(a, b, transpose_b=True))
    return tf.sqrt(tf.maximum(squared, 1e-12))


def margin_pair_loss(z_a, z_b, margin: float = 1.0, normalize: bool = True) -> tf.Tensor:
    """The margin loss of Hadsell et al. (2006) on every pair of a batch of two views, no labels needed.

    With ``D_ij = ||a_i - b_j||`` (Euclidean; ``a, b`` L2-normalised first when ``normalize``),
    the ``N`` pairs ``(a_i, b_i)`` (two views of one image) are the similar pairs and the
    ``N(N - 1)`` pairs ``(a_i, b_j), i != j`` (views of different images) the dissimilar ones::

        loss = ( mean_i D_ii**2  +  mean_{i != j} max(0, margin - D_ij)**2 ) / 2

    that is, ``contrastive_margin_loss`` with the two kinds of pair weighted equally, as on the
    balanced pairs Hadsell et al. train on. ``z_a, z_b``: ``(N, D)`` with ``N >= 2``. On
    normalised embeddings distances lie in [0, 2] (random unit vectors sit near sqrt(2)), so
    ``margin`` should lie in (0, 2].
    """
    margin = check_margin(margin, normalize)
    a, b = _check_pair(z_a, z_b)
    distance = pair_distances(a, b, normalize)
    if normalize:
        a, b = tf.math.l2_normalize(a, axis=1), tf.math.l2_normalize(b, axis=1)
    positive = tf.reduce_sum(tf.square(a - b), axis=1)  # D_ii**2, computed exactly
    n = tf.shape(a)[0]
    pushed = tf.square(tf.nn.relu(margin - distance)) * (1.0 - tf.eye(n))
    negative = tf.reduce_sum(pushed) / tf.cast(n * (n - 1), tf.float32)
    return 0.5 * (tf.reduce_mean(positive) + negative)


def similarity_logits(anchors: tf.Tensor, candidates: tf.Tensor, temperature: float) -> tf.Tensor:
    """``s_ij = anchor_i . candidate_j / t``: unit rows ``(n, D)`` and ``(M, D)`` give ``(n, M)``."""
    return tf.matmul(anchors, candidates, transpose_b=True) / temperature


def nt_xent_rows(scores: tf.Tensor, positive: tf.Tensor, exclude: tf.Tensor | None = None) -> tf.Tensor:
    """Softmax cross-entropy of each row of ``scores`` ``(n, M)`` at its ``positive`` column, ``(n,)``.

    ``l_i = -s_i,p(i) + log sum_{j != e(i)} exp(s_ij)``: NT-Xent (Chen et al. 2020) with the
    anchor's own column ``e(i) = exclude[i]`` left out of the denominator; with ``exclude=None``
    every column stays, as in NNCLR (Dwibedi et al. 2021). ``positive``, ``exclude``: int
    ``(n,)`` columns.
    """
    if exclude is not None:
        scores = scores - _MASKED * tf.one_hot(exclude, tf.shape(scores)[1])
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positive, logits=scores)


def dcl_rows(scores: tf.Tensor, positive: tf.Tensor, exclude: tf.Tensor, weight: tf.Tensor | float = 1.0) -> tf.Tensor:
    """Decoupled contrastive loss (Yeh et al. 2022) of each row of ``scores`` ``(n, M)``, ``(n,)``.

    ``l_i = -w_i s_i,p(i) + log sum_{j not in {p(i), e(i)}} exp(s_ij)``: the positive ``p(i) =
    positive[i]`` out of the denominator as well as the anchor's own column ``e(i) =
    exclude[i]``. ``weight`` ``w_i``: 1 for DCL, ``(n,)`` ``dclw_weights`` for DCLW.
    """
    width = tf.shape(scores)[1]
    negatives = scores - _MASKED * (tf.one_hot(positive, width) + tf.one_hot(exclude, width))
    positive_logit = tf.gather(scores, positive, batch_dims=1)
    return -weight * positive_logit + tf.reduce_logsumexp(negatives, axis=1)


def dclw_weights(cosines: tf.Tensor, sigma: float, clamp: bool = False) -> tf.Tensor:
    """DCLW's weight of each positive pair (Yeh et al. 2022), without gradient, ``(N,)``.

    ``w_i = 2 - exp(c_i / sigma) / mean_j exp(c_j / sigma) = 2 - N softmax_i(c / sigma)`` for the
    cosines ``c`` ``(N,)`` of the ``N`` positive pairs of the (global) batch, a von Mises-Fisher
    weighting: pairs already close get less weight, hard positives more. The weights average 1,
    and a pair much better aligned than the rest gets a *negative* one (its positive term then
    pushes its views apart); ``clamp=True`` uses ``max(w_i, 0)`` instead (the paper has no clamp).
    """
    weight = 2.0 - tf.cast(tf.shape(cosines)[0], tf.float32) * tf.nn.softmax(cosines / sigma)
    return tf.stop_gradient(tf.maximum(weight, 0.0) if clamp else weight)


def _two_views(a: tf.Tensor, b: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``z = normalize([a; b])`` ``(2N, D)``, each view's own column ``(2N,)`` and its other view's."""
    n = tf.shape(a)[0]
    z = tf.math.l2_normalize(tf.concat([a, b], axis=0), axis=1)
    return z, tf.range(2 * n), tf.concat([tf.range(n, 2 * n), tf.range(n)], axis=0)


def nt_xent(z_a, z_b, temperature: float = 0.5) -> tf.Tensor:
    """NT-Xent, SimCLR's loss (Chen et al. 2020), over the ``2N`` views of ``N`` images.

    With ``z = normalize([z_a; z_b])`` and ``s_ij = z_i . z_j / t``, the anchor ``i`` has its
    other view ``p(i)`` as positive and the other ``2N - 2`` views as negatives::

        l_i = -log( exp(s_i,p(i)) / sum_{j != i} exp(s_ij) )

    Returns the mean of ``l_i`` over all ``2N`` anchors. ``z_a, z_b``: ``(N, D)``.
    """
    temperature = check_temperature(temperature)
    z, own, positive = _two_views(*_check_pair(z_a, z_b))
    return tf.reduce_mean(nt_xent_rows(similarity_logits(z, z, temperature), positive, exclude=own))


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


def dcl(z_a, z_b, temperature: float = 0.1) -> tf.Tensor:
    """Decoupled contrastive loss (Yeh et al. 2022): NT-Xent without the positive in the denominator.

    ``l_i = -s_ii + log sum_{j != i} (exp(a_i . a_j / t) + exp(a_i . b_j / t))`` with
    ``s_ii = a_i . b_i / t``; computed in both directions (anchors from ``z_a`` and from
    ``z_b``), mean over all ``2N``. ``z_a, z_b``: ``(N, D)``, L2-normalised here.
    """
    temperature = check_temperature(temperature)
    z, own, positive = _two_views(*_check_pair(z_a, z_b))
    return tf.reduce_mean(dcl_rows(similarity_logits(z, z, temperature), positive, own))


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
    z, own, positive = _two_views(*_check_pair(z_a, z_b))
    n = tf.shape(z)[0] // 2
    weight = dclw_weights(tf.reduce_sum(z[:n] * z[n:], axis=1), sigma, clamp)
    weight = tf.concat([weight, weight], axis=0)  # both views of image i get w_i
    return tf.reduce_mean(dcl_rows(similarity_logits(z, z, temperature), positive, own, weight))


def nnclr_loss(neighbors, predictions, temperature: float = 0.1) -> tf.Tensor:
    """One direction of NNCLR's loss (Dwibedi et al. 2021).

    ``neighbors``: ``(N, D)`` nearest neighbors of one view's projections in the support set
    (the positives, found without gradient); ``predictions``: ``(N, D)`` the other view's
    predictor outputs. Logits ``normalize(neighbors) @ normalize(predictions)^T / t``, the
    positive on the diagonal; cross-entropy, mean over the batch. NNCLR averages it over both
    directions: ``(nnclr_loss(nn_a, p_b) + nnclr_loss(nn_b, p_a)) / 2``.
    """
    temperature = check_temperature(temperature)
    nn, p = _check_pair(neighbors, predictions, names=("neighbors", "predictions"))
    nn, p = tf.math.l2_normalize(nn, axis=1), tf.math.l2_normalize(p, axis=1)
    return tf.reduce_mean(nt_xent_rows(similarity_logits(nn, p, temperature), tf.range(tf.shape(nn)[0])))


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


def supcon(z, labels, temperature: float = 0.1) -> tf.Tensor:
    """Supervised contrastive loss, ``L_out`` of Khosla et al. (2020, their equation 2).

    ``z``: ``(N, D)`` the projections of every view in the batch (e.g. two views of each of
    ``N / 2`` images); ``labels``: ``(N,)`` integer classes. With unit rows and
    ``s_ij = z_i . z_j / t``, anchor ``i``'s positives ``P(i)`` are the other views of its class
    and ``A(i)`` every view but itself::

        l_i = -1 / |P(i)| sum_{p in P(i)} log( exp(s_ip) / sum_{a in A(i)} exp(s_ia) )

    The mean of ``l_i`` over the anchors with at least one positive (an anchor whose class is
    alone in the batch has no term). With one image per class and its two views it is NT-Xent.
    """
    temperature = check_temperature(temperature)
    z = _as_float(z, "z", 2)
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank != 1 or (z.shape[0] is not None and labels.shape[0] != z.shape[0]):
        raise ValueError(f"labels must have shape (N,) = ({z.shape[0]},), one class per row of z; "
                         f"got shape {tuple(labels.shape)}.")
    if not labels.dtype.is_integer:
        raise TypeError(f"labels must be integer classes, got dtype {labels.dtype.name}.")
    if z.shape[0] is not None and z.shape[0] < 2:
        raise ValueError(f"supcon needs at least 2 views in the batch, got {z.shape[0]}.")
    z = tf.math.l2_normalize(z, axis=1)
    n = tf.shape(z)[0]
    own = tf.eye(n, dtype=tf.bool)
    scores = tf.where(own, -_MASKED, similarity_logits(z, z, temperature))  # A(i): all but i itself
    log_prob = scores - tf.reduce_logsumexp(scores, axis=1, keepdims=True)
    positive = tf.logical_and(tf.equal(labels[:, None], labels[None, :]), tf.logical_not(own))
    count = tf.reduce_sum(tf.cast(positive, tf.float32), axis=1)
    per_anchor = -tf.reduce_sum(tf.where(positive, log_prob, 0.0), axis=1) / tf.maximum(count, 1.0)
    has_positive = count > 0
    if tf.executing_eagerly() and not bool(tf.reduce_any(has_positive)):
        raise ValueError("no view in the batch shares its class with another view: supcon has no positive pair "
                         "(pass several views per image, or several images per class).")
    return tf.reduce_mean(tf.boolean_mask(per_anchor, has_positive))
