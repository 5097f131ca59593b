"""The contrastive losses written out in NumPy (float64), one loss per anchor, for the tests.

Each function returns the loss of every anchor (row); the batch loss is their mean. Inputs are
any ``(N, D)`` arrays; they are L2-normalised here, as the methods do.
"""

import numpy as np


def unit(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def logsumexp(x: np.ndarray) -> np.ndarray:
    """``log sum_j exp(x_ij)`` for each row, ignoring ``-inf`` entries."""
    top = x.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(x - top).sum(axis=1))


def nt_xent_rows(z_a, z_b, t: float) -> np.ndarray:
    """NT-Xent (Chen et al. 2020) of the ``2N`` anchors, views a first:
    ``-s_ip + log sum_{j != i} exp(s_ij)`` with ``s = z z^T / t`` over ``z = [z_a; z_b]``."""
    z = unit(np.concatenate([z_a, z_b]))
    n = len(z) // 2
    s = z @ z.T / t
    positive = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
    np.fill_diagonal(s, -np.inf)
    return -s[np.arange(2 * n), positive] + logsumexp(s)


def dclw_weights(z_a, z_b, sigma: float, clamp: bool = False) -> np.ndarray:
    """DCLW's weights (Yeh et al. 2022) ``w_i = 2 - exp(s_i / sigma) / mean_j exp(s_j / sigma)``,
    ``s_i`` the cosine of pair ``i``; with ``clamp``, ``max(w_i, 0)``. Shape ``(N,)``."""
    e = np.exp(np.sum(unit(z_a) * unit(z_b), axis=1) / sigma)
    w = 2 - e / e.mean()
    return np.maximum(w, 0) if clamp else w


def dcl_rows(z_a, z_b, t: float, weights=None) -> np.ndarray:
    """DCL (Yeh et al. 2022) of the ``2N`` anchors, views a first:
    ``-w_i s_ip + log sum_{j not in {i, p}} exp(s_ij)``; ``weights`` ``(N,)``, 1 by default (DCL)."""
    z = unit(np.concatenate([z_a, z_b]))
    n = len(z) // 2
    s = z @ z.T / t
    positive = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    pos = s[np.arange(2 * n), positive]
    negatives = s.copy()
    np.fill_diagonal(negatives, -np.inf)
    negatives[np.arange(2 * n), positive] = -np.inf
    return -np.concatenate([w, w]) * pos + logsumexp(negatives)


def info_nce_rows(q, k, queue, t: float) -> np.ndarray:
    """InfoNCE with a queue (He et al. 2020): ``-log(e^{q.k/t} / (e^{q.k/t} + sum_j e^{q.queue_j/t}))``, ``(N,)``."""
    q, k, queue = unit(q), unit(k), unit(queue)
    s = np.concatenate([np.sum(q * k, axis=1, keepdims=True), q @ queue.T], axis=1) / t
    return -s[:, 0] + logsumexp(s)


def nearest(z, support) -> np.ndarray:
    """The row of ``support`` most cosine-similar to each row of ``z``, ``(N, D)``."""
    return np.asarray(support, np.float64)[np.argmax(unit(z) @ unit(support).T, axis=1)]


def nnclr_rows(neighbors, predictions, t: float) -> np.ndarray:
    """One direction of NNCLR (Dwibedi et al. 2021): ``-log softmax_k(nn_i . p_k / t)`` at ``k = i``, ``(N,)``."""
    s = unit(neighbors) @ unit(predictions).T / t
    return -np.diag(s) + logsumexp(s)


def supcon_rows(z, labels, t: float) -> np.ndarray:
    """Khosla et al.'s L_out per anchor, written as their equation 2 with loops; NaN where no positive."""
    z, labels = unit(z), np.asarray(labels)
    rows = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        denominator = np.log(np.sum(np.exp(z[i] @ z[others].T / t)))
        positives = [p for p in others if labels[p] == labels[i]]
        rows.append(np.nan if not positives else
                    -np.mean([z[i] @ z[p] / t - denominator for p in positives]))
    return np.array(rows)
