"""Measuring a representation: features, weighted kNN, linear probe, alignment and uniformity."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from clr_lib.augment import check_pixel_scale
from clr_lib.checks import check_positive_int
from clr_lib.losses import check_temperature

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

# The inverse L2 strengths ``linear_probe`` chooses from by cross-validation, strongest first.
PROBE_CS = (0.01, 0.1, 1.0, 10.0)
PROBE_FOLDS = 3
FALLBACK_C = 1.0  # scikit-learn's default, where too few examples per class leave nothing to cross-validate


def extract_features(encoder: keras.Model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Run a frozen ``encoder`` (inference mode) over ``images`` ``(N, H, W, 3)``; returns ``(N, D)`` float32.

    Warns (``clr_lib.augment.PixelScaleWarning``) when float images look scaled to 0..1.
    """
    if len(images) == 0:
        raise ValueError("extract_features got no images.")
    check_pixel_scale(images)
    return np.asarray(encoder.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


def _check_labels(labels, n: int, name: str) -> np.ndarray:
    """``labels`` as ``(n,)`` int64 class indices >= 0; integral floats such as 3.0 are accepted."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iuf":  # ints or floats; not bool, complex, strings or objects
        raise TypeError(
            f"{name} labels must be integer class indices, got dtype {labels.dtype}: pass labels.astype(int)."
        )
    labels = labels.reshape(-1)
    if len(labels) != n:
        raise ValueError(f"{name} needs one label per feature row: {n} rows but {len(labels)} labels.")
    with np.errstate(invalid="ignore"):  # NaN, inf and huge floats cast to garbage, caught below
        as_int = labels.astype(np.int64)
    if not np.array_equal(as_int, labels):
        bad = labels[as_int != labels][:3]
        raise ValueError(
            f"{name} labels must be whole numbers (class indices), got {bad}: are these scores, not labels?"
        )
    if as_int.min() < 0:
        raise ValueError(
            f"{name} labels must be class indices >= 0, got {as_int.min()}: -1 usually marks an unlabelled "
            "image; drop those rows."
        )
    return as_int


def _check_features(feats: np.ndarray, labels: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(N, D)`` finite float32 features with ``N >= 1``, and their ``(N,)`` int64 labels."""
    feats = np.asarray(feats, np.float32)
    if feats.ndim != 2:
        raise ValueError(f"{name} features must be an (N, D) matrix, got shape {feats.shape}.")
    if len(feats) == 0:
        raise ValueError(f"{name} features are empty (shape {feats.shape}): need at least one row.")
    finite = np.isfinite(feats).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{name} features hold NaN or inf in {int((~finite).sum())} of {len(feats)} rows (first: row "
            f"{int(np.argmin(finite))}): the encoder diverged, or its input was not finite."
        )
    return feats, _check_labels(labels, len(feats), name)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (all-zero rows stay zero), correctly rounded: equal directions give equal rows."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _weighted_vote(sims: np.ndarray, neighbor_classes: np.ndarray, num_classes: int, temperature: float) -> np.ndarray:
    """The class ``argmax_c sum_{j: c_j = c} exp((s_j - s_1) / t)`` of each row; ties: the lowest class.

    ``sims``: ``(Q, k)`` similarities, largest first; ``neighbor_classes``: ``(Q, k)`` their classes
    in ``0..num_classes-1``. Subtracting each row's largest ``s_1`` scales all its votes by one
    factor, so the winner is that of ``exp(s_j / t)``, and float64 cannot overflow. The votes
    are summed by ``np.bincount`` into ``(Q, num_classes)``, never a ``(Q, k, C)`` one-hot.
    """
    weights = np.exp((sims.astype(np.float64) - sims[:, :1]) / temperature)
    rows = np.arange(len(sims))[:, None]
    votes = np.bincount((rows * num_classes + neighbor_classes).ravel(), weights.ravel(), len(sims) * num_classes)
    return votes.reshape(len(sims), num_classes).argmax(axis=1)  # NumPy's argmax: the first maximum


def knn_accuracy(
    train_feats: np.ndarray,
    train_labels: np.ndarray,
    test_feats: np.ndarray,
    test_labels: np.ndarray,
    k: int = 200,
    temperature: float = 0.1,
    batch_size: int = 512,
) -> float:
    """Weighted kNN top-1 accuracy on cosine similarity (Wu et al. 2018, the protocol of lightly and InstDisc).

    Each of the test features ``(Q, D)`` votes among its ``k`` most similar training features ``(M, D)``
    (``k`` is capped at ``M``); neighbor ``j`` of similarity ``s_j`` adds ``exp(s_j / t)`` to its
    class, and the class with the most votes is the prediction. Ties: among equally similar
    training features the earlier one in the bank is taken first, and of classes with equal
    votes the lowest label wins. Labels are integer class indices >= 0 (floats such as 3.0
    pass), of any size: votes go to the distinct training labels only. The vote is stable for
    any ``t > 0`` (see ``_weighted_vote``). Test features are processed ``batch_size`` at a
    time: memory is about ``4 * batch_size * M`` bytes of similarities (100 MB for 512 queries
    against 50,000), plus the bank.
    """
    train_feats, train_labels = _check_features(train_feats, train_labels, "train")
    test_feats, test_labels = _check_features(test_feats, test_labels, "test")
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f"train and test features differ in size: {train_feats.shape[1]} vs {test_feats.shape[1]}.")
    k = min(check_positive_int(k, "k"), len(train_feats))
    batch_size = check_positive_int(batch_size, "batch_size")
    temperature = check_temperature(temperature, minimum=0.0)
    classes, bank_classes = np.unique(train_labels, return_inverse=True)
    bank = tf.constant(_unit_rows(train_feats))
    correct = 0
    for start in range(0, len(test_feats), batch_size):
        query = tf.constant(_unit_rows(test_feats[start:start + batch_size]))
        sims, idx = tf.math.top_k(tf.matmul(query, bank, transpose_b=True), k=k)  # stable: lower index first
        predicted = classes[_weighted_vote(sims.numpy(), bank_classes[idx.numpy()], len(classes), temperature)]
        correct += int((predicted == test_labels[start:start + batch_size]).sum())
    return correct / len(test_feats)


def fit_linear_probe(
    train_feats: np.ndarray, train_labels: np.ndarray, c: float | None = None, max_iter: int = 1000
) -> BaseEstimator:
    """A multinomial logistic regression on standardised frozen features ``(N, D)``, fitted.

    ``StandardScaler`` then ``LogisticRegression(C=c)``, ``c`` the inverse L2 strength. With
    ``c=None`` (the default) C is chosen from ``PROBE_CS`` (0.01 to 10) by 3-fold stratified
    cross-validation on the training features (accuracy; ties go to the stronger
    regularisation), then refitted on all of them: a scikit-learn ``GridSearchCV``, whose
    ``best_params_["logisticregression__C"]`` is the choice. Its 12 fits run in parallel processes:
    2 to 3 s for 50,000 x 192 random features on 2 cores, against 0.2 to 0.6 s for one fixed C.
    A number ``c`` fixes C and skips the search; so does a class with fewer than 3 training
    examples (C is then ``FALLBACK_C``, with a warning). Either way the result has ``predict`` and ``score``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_feats, train_labels = _check_features(train_feats, train_labels, "train")
    classes, counts = np.unique(train_labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"linear_probe needs at least 2 classes in the training labels, got only class {classes[0]}.")
    if c is None and counts.min() < PROBE_FOLDS:
        warnings.warn(
            f"choosing C by {PROBE_FOLDS}-fold cross-validation needs >= {PROBE_FOLDS} training examples per class, "
            f"and class {classes[counts.argmin()]} has {counts.min()}: C is fixed at {FALLBACK_C} instead "
            "(pass c= to choose it yourself).",
            stacklevel=3,
        )
        c = FALLBACK_C
    if c is not None:
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
        return probe.fit(train_feats, train_labels)
    probe = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter)),
        {"logisticregression__C": list(PROBE_CS)}, scoring="accuracy", cv=PROBE_FOLDS, n_jobs=-1,
    )
    return probe.fit(train_feats, train_labels)


def linear_probe(
    train_feats: np.ndarray,
    train_labels: np.ndarray,
    test_feats: np.ndarray,
    test_labels: np.ndarray,
    c: float | None = None,
    max_iter: int = 1000,
) -> float:
    """Test accuracy of ``fit_linear_probe``: logistic regression on frozen, standardised features.

    ``c=None`` chooses the inverse L2 strength C from ``PROBE_CS`` by 3-fold cross-validation on
    the training features; a number fixes it (scikit-learn's ``C``).
    """
    probe = fit_linear_probe(train_feats, train_labels, c, max_iter)
    test_feats, test_labels = _check_features(test_feats, test_labels, "test")
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
    """``(N, D)`` embeddings as float64 unit vectors; refuses non-finite or all-zero rows."""
    z = np.asarray(z, np.float64)
    if z.ndim != 2:
        raise ValueError(f"embeddings must be an (N, D) matrix, got shape {z.shape}.")
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    if not (np.isfinite(norms).all() and (norms > 0).all()):
        raise ValueError("embeddings must be finite and nonzero: a NaN, inf or all-zero row has no direction.")
    return z / norms


def alignment(z_a: np.ndarray, z_b: np.ndarray, alpha: float = 2.0) -> float:
    """Wang & Isola (2020): ``E ||f(x) - f(x+)||^alpha`` over positive pairs of L2-normalised embeddings (lower is better)."""
    a, b = _normalize(z_a), _normalize(z_b)
    if a.shape != b.shape:
        raise ValueError(f"alignment needs paired embeddings of one shape, got {a.shape} and {b.shape}.")
    return float(np.mean(np.linalg.norm(a - b, axis=1) ** alpha))


def uniformity(z: np.ndarray, t: float = 2.0, block_size: int = 256) -> float:
    """Wang & Isola (2020): ``log E exp(-t ||f(x) - f(y)||^2)`` over distinct pairs (lower is more uniform).

    ``z``: ``(N, D)`` embeddings, L2-normalised here, so ``-t ||a - b||^2 = 2t (a.b - 1)``. The
    ``N (N - 1) / 2`` pairs ``i < j`` are visited ``block_size`` rows at a time and summed as a
    running log-sum-exp: memory ``O(N * block_size)`` (100 MB for 50,000 embeddings), never ``N^2``.
    """
    z = _normalize(z)
    if len(z) < 2:
        raise ValueError("uniformity needs at least 2 embeddings.")
    block_size = check_positive_int(block_size, "block_size")
    total = -np.inf  # log of the sum of exp(-t ||a - b||^2) so far
    for start in range(0, len(z) - 1, block_size):
        rows = z[start:start + block_size]
        logs = rows @ z[start:].T  # cosines; entry (i, j) is the pair (start + i, start + j)
        np.minimum(logs, 1.0, out=logs)  # in place: this block is the only big array
        logs -= 1.0
        logs *= 2.0 * t
        logs[np.tril_indices(len(rows), m=logs.shape[1])] = -np.inf  # keep the pairs j > i
        peak = logs.max()
        logs -= peak
        total = np.logaddexp(total, peak + np.log(np.exp(logs, out=logs).sum()))
    return float(total - np.log(len(z) * (len(z) - 1) / 2))


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
    unit_bank = _unit_rows(bank)
    indices = np.empty((len(query), k), np.int64)
    similarities = np.empty((len(query), k), np.float32)
    for start in range(0, len(query), batch_size):
        block = query[start:start + batch_size]
        sims = _unit_rows(block) @ unit_bank.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # the k largest, unordered
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        indices[start:start + batch_size] = np.take_along_axis(top, order, axis=1)
        similarities[start:start + batch_size] = np.take_along_axis(sims, indices[start:start + batch_size], axis=1)
    return indices, similarities


# --- how sure a measured accuracy is ------------------------------------------------------------


def accuracy_interval(accuracy: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for an accuracy measured on ``n`` test images (one run, one seed).

    It covers only the luck of the test sample, not that of training: ``difference_interval``
    over seeds covers both. With ``z`` the normal quantile of ``confidence`` and ``p = accuracy``::

        (p + z^2 / 2n  -+  z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)

    (Wilson 1927). Unlike ``p -+ 2 sqrt(p (1 - p) / n)`` it stays inside [0, 1].
    """
    from scipy.stats import norm

    n = check_positive_int(n, "n")
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy!r}.")
    z = float(norm.ppf(0.5 + _check_confidence(confidence) / 2))
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def difference_interval(
    a: list[float] | np.ndarray, b: list[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` and its confidence interval, from one value per seed of each setting.

    Welch's t interval (unequal variances): ``d -+ t_q(nu) sqrt(s_a^2 / n_a + s_b^2 / n_b)`` with
    the Welch-Satterthwaite degrees of freedom ``nu``. The spread between seeds holds every source of
    noise at once (initialisation, augmentation draws, the test sample), so a difference counts
    only when this interval excludes 0. Needs at least 2 values per setting. Returns
    ``(difference, low, high)``.
    """
    from scipy.stats import t

    a, b = _seed_values(a, "a"), _seed_values(b, "b")
    var_a, var_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    difference, se = float(a.mean() - b.mean()), float(np.sqrt(var_a + var_b))
    if se == 0.0:
        return difference, difference, difference
    dof = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    half = float(t.ppf(0.5 + _check_confidence(confidence) / 2, dof)) * se
    return difference, difference - half, difference + half


def verdict(low: float, high: float, predicted_sign: int = 1) -> str:
    """``"supported"`` when ``[low, high]`` excludes 0 on the side a claim predicts (``predicted_sign``
    +1: the difference is positive, -1: negative), ``"contradicted"`` when it excludes 0 on the other
    side, else ``"inconclusive"``."""
    if predicted_sign not in (1, -1):
        raise ValueError(f"predicted_sign must be +1 or -1, got {predicted_sign!r}.")
    if low > high:
        raise ValueError(f"an interval needs low <= high, got [{low}, {high}].")
    if low > 0 or high < 0:
        return "supported" if (low > 0) == (predicted_sign == 1) else "contradicted"
    return "inconclusive"


def evidence(
    claim: str, source: str, setting: list[float] | np.ndarray, reference: list[float] | np.ndarray,
    predicted_sign: int = 1, confidence: float = 0.95,
) -> dict:
    """One tested claim, as a chapter records it under ``"evidence"`` in its result file.

    ``setting`` and ``reference`` hold one accuracy per seed of the two settings the claim
    compares (e.g. MoCo with a large and with a small queue); ``predicted_sign`` is the sign of
    ``setting - reference`` the paper (``source``, a BibTeX key) predicts. Returns ``{"claim",
    "source", "measured": mean difference, "interval": [low, high] (``difference_interval``),
    "seeds": the fewer seeds of the two, "verdict": ``verdict(low, high, predicted_sign)``}``.
    """
    difference, low, high = difference_interval(setting, reference, confidence)
    return {"claim": claim, "source": source, "measured": difference, "interval": [low, high],
            "seeds": int(min(np.size(setting), np.size(reference))), "verdict": verdict(low, high, predicted_sign)}


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}.")
    return float(confidence)


def _seed_values(values, name: str) -> np.ndarray:
    values = np.asarray(values, np.float64).reshape(-1)
    if len(values) < 2:
        raise ValueError(f"{name} needs a value from at least 2 seeds to measure their spread, got {len(values)}.")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} holds a NaN or inf: {values}.")
    return values
