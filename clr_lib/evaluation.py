"""Measuring a representation: features, weighted kNN, linear probe, alignment and uniformity."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def extract_features(encoder: keras.Model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Run a frozen ``encoder`` (inference mode) over ``images`` ``(N, H, W, 3)``; returns ``(N, D)`` float32."""
    if len(images) == 0:
        raise ValueError("extract_features got no images.")
    return np.asarray(encoder.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


def _check_features(feats: np.ndarray, labels: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    feats, labels = np.asarray(feats, np.float32), np.asarray(labels).reshape(-1)
    if feats.ndim != 2 or len(feats) != len(labels):
        raise ValueError(f"{name} features must be (N, D) with one label each, got {feats.shape} and {labels.shape}.")
    return feats, labels.astype(np.int64)


def knn_accuracy(
    train_feats: np.ndarray,
    train_labels: np.ndarray,
    test_feats: np.ndarray,
    test_labels: np.ndarray,
    k: int = 200,
    temperature: float = 0.1,
    batch_size: int = 1024,
) -> float:
    """Weighted kNN top-1 accuracy on cosine similarity (Wu et al. 2018, the protocol of lightly and InstDisc).

    Each test feature votes among its ``k`` most similar training features; neighbour ``j``
    adds ``exp(s_j / temperature)`` to its class. Test features are processed ``batch_size``
    at a time, so 50,000 x 10,000 fits in memory.
    """
    train_feats, train_labels = _check_features(train_feats, train_labels, "train")
    test_feats, test_labels = _check_features(test_feats, test_labels, "test")
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f"train and test features differ in size: {train_feats.shape[1]} vs {test_feats.shape[1]}.")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}.")
    k = min(k, len(train_feats))
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    bank = tf.math.l2_normalize(tf.constant(train_feats), axis=1)
    bank_labels = tf.constant(train_labels)
    correct = 0
    for start in range(0, len(test_feats), batch_size):
        query = tf.math.l2_normalize(tf.constant(test_feats[start:start + batch_size]), axis=1)
        sims, idx = tf.math.top_k(tf.matmul(query, bank, transpose_b=True), k=k)
        votes = tf.one_hot(tf.gather(bank_labels, idx), num_classes) * tf.exp(sims / temperature)[..., None]
        predicted = tf.argmax(tf.reduce_sum(votes, axis=1), axis=1).numpy()
        correct += int((predicted == test_labels[start:start + batch_size]).sum())
    return correct / len(test_feats)


def linear_probe(
    train_feats: np.ndarray,
    train_labels: np.ndarray,
    test_feats: np.ndarray,
    test_labels: np.ndarray,
    c: float = 1.0,
    max_iter: int = 1000,
) -> float:
    """Test accuracy of a multinomial logistic regression trained on frozen, standardised features.

    ``c`` is the inverse L2 regularisation strength (scikit-learn's ``C``).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_feats, train_labels = _check_features(train_feats, train_labels, "train")
    test_feats, test_labels = _check_features(test_feats, test_labels, "test")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(train_feats, train_labels)
    return float(probe.score(test_feats, test_labels))


def frozen_accuracy(
    encoder: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    k: int = 200,
    temperature: float = 0.1,
) -> dict[str, float]:
    """Weighted-kNN and linear-probe top-1 of a frozen ``encoder``, from ``(images, labels)`` splits."""
    train_feats, test_feats = extract_features(encoder, train[0]), extract_features(encoder, test[0])
    return {
        "knn_top1": knn_accuracy(train_feats, train[1], test_feats, test[1], k, temperature),
        "linear_probe_top1": linear_probe(train_feats, train[1], test_feats, test[1]),
    }


def _normalize(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def alignment(z_a: np.ndarray, z_b: np.ndarray, alpha: float = 2.0) -> float:
    """Wang & Isola (2020): ``E ||f(x) - f(x+)||^alpha`` over positive pairs of L2-normalised embeddings (lower is better)."""
    a, b = _normalize(z_a), _normalize(z_b)
    if a.shape != b.shape:
        raise ValueError(f"alignment needs paired embeddings of one shape, got {a.shape} and {b.shape}.")
    return float(np.mean(np.linalg.norm(a - b, axis=1) ** alpha))


def uniformity(z: np.ndarray, t: float = 2.0) -> float:
    """Wang & Isola (2020): ``log E exp(-t ||f(x) - f(y)||^2)`` over distinct pairs (lower is more uniform)."""
    z = _normalize(z)
    if len(z) < 2:
        raise ValueError("uniformity needs at least 2 embeddings.")
    sq_dists = np.maximum(2.0 - 2.0 * z @ z.T, 0.0)[np.triu_indices(len(z), k=1)]
    return float(np.log(np.mean(np.exp(-t * sq_dists))))


def nearest_neighbors(
    query_feats: np.ndarray,
    bank_feats: np.ndarray,
    k: int = 5,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar rows of ``bank_feats`` ``(M, D)`` for each row of ``query_feats`` ``(Q, D)``.

    Cosine similarity ``s = q.b / (|q| |b|)``, computed ``batch_size`` queries at a time (256
    queries against 50,000 images take about 200 MB), the retrieval behind the kNN vote of
    ``knn_accuracy``. Returns ``(indices, similarities)``, both ``(Q, k)``, most similar first:
    ``indices`` (int64) into the bank and their similarities (float32).
    """
    query = np.asarray(query_feats, np.float32)
    bank = np.asarray(bank_feats, np.float32)
    if query.ndim != 2 or bank.ndim != 2:
        raise ValueError(
            f"queries and bank must be (N, D) feature matrices, got shapes {query.shape} and {bank.shape}."
        )
    if query.shape[1] != bank.shape[1]:
        raise ValueError(f"queries and bank differ in feature size: {query.shape[1]} vs {bank.shape[1]}; "
                         "embed both with the same encoder.")
    if not 1 <= k <= len(bank):
        raise ValueError(f"k must be between 1 and the bank size ({len(bank)}), got {k}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive number of queries, got {batch_size}.")
    unit_bank = bank / np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), 1e-12)
    indices = np.empty((len(query), k), np.int64)
    similarities = np.empty((len(query), k), np.float32)
    for start in range(0, len(query), batch_size):
        block = query[start:start + batch_size]
        sims = (block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)) @ unit_bank.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # the k largest, unordered
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        indices[start:start + batch_size] = np.take_along_axis(top, order, axis=1)
        similarities[start:start + batch_size] = np.take_along_axis(sims, indices[start:start + batch_size], axis=1)
    return indices, similarities
