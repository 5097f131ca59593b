"""Evaluation metrics against brute-force computations and known closed forms."""

import numpy as np
import pytest

from clr_lib import evaluation, models


def brute_force_knn(train, train_y, test, test_y, k, t):
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    correct = 0
    for x, y in zip(test, test_y):
        s = train @ (x / np.linalg.norm(x))
        nearest = np.argsort(-s)[:k]
        votes = np.zeros(train_y.max() + 1)
        for j in nearest:
            votes[train_y[j]] += np.exp(s[j] / t)
        correct += votes.argmax() == y
    return correct / len(test)


@pytest.mark.parametrize("k, t, batch", [(1, 0.1, 7), (5, 0.1, 1024), (20, 0.5, 3)])
def test_knn_matches_brute_force(k, t, batch):
    rng = np.random.default_rng(k)
    centers = rng.normal(size=(3, 8))
    train_y, test_y = rng.integers(0, 3, 200), rng.integers(0, 3, 50)
    train = centers[train_y] + 1.5 * rng.normal(size=(200, 8))
    test = centers[test_y] + 1.5 * rng.normal(size=(50, 8))
    got = evaluation.knn_accuracy(train, train_y, test, test_y, k=k, temperature=t, batch_size=batch)
    assert got == pytest.approx(brute_force_knn(train, train_y, test, test_y, k, t))
    assert 0.34 < got < 1.0  # informative but not trivial


def test_knn_on_separable_and_random_features():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    separable = np.eye(4)[labels] + 0.01 * rng.normal(size=(200, 4))
    assert evaluation.knn_accuracy(separable, labels, separable, labels, k=10) == 1.0
    noise = rng.normal(size=(200, 16))
    assert evaluation.knn_accuracy(noise[:100], labels[:100], noise[100:], labels[100:], k=10) < 0.5


def test_linear_probe_beats_chance_only_with_signal():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    informative = np.c_[y + 0.3 * rng.normal(size=400), rng.normal(size=(400, 5))]
    assert evaluation.linear_probe(informative[:300], y[:300], informative[300:], y[300:]) > 0.9
    noise = rng.normal(size=(400, 6))
    assert evaluation.linear_probe(noise[:300], y[:300], noise[300:], y[300:]) < 0.7


def test_alignment_closed_forms():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert evaluation.alignment(a, a) == 0.0
    assert evaluation.alignment(a, -a) == pytest.approx(4.0)  # antipodal: ||a - b||^2 = 4
    assert evaluation.alignment(a, a[::-1], alpha=1) == pytest.approx(np.sqrt(2))


def test_uniformity_closed_forms():
    # two antipodal points: log exp(-2 * 4) = -8
    assert evaluation.uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)
    # collapse (all equal) is the least uniform: log 1 = 0
    assert evaluation.uniformity(np.ones((5, 3))) == pytest.approx(0.0)
    # random directions on a high-dimensional sphere are more uniform than a small cluster
    rng = np.random.default_rng(0)
    spread = rng.normal(size=(300, 32))
    cluster = np.ones((300, 32)) + 0.1 * rng.normal(size=(300, 32))
    assert evaluation.uniformity(spread) < evaluation.uniformity(cluster)


def test_extract_features_shape_and_errors():
    encoder = models.small_cnn(widths=(8, 16))
    images = np.zeros((10, 32, 32, 3), np.uint8)
    assert evaluation.extract_features(encoder, images, batch_size=4).shape == (10, 16)
    with pytest.raises(ValueError, match="no images"):
        evaluation.extract_features(encoder, images[:0])
    with pytest.raises(ValueError, match="differ in size"):
        evaluation.knn_accuracy(np.ones((3, 2)), [0, 1, 0], np.ones((2, 3)), [0, 1])


def test_frozen_accuracy_combines_knn_and_linear_probe():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, 40)
    encoder = models.small_cnn(widths=(8, 16))
    feats = evaluation.extract_features(encoder, images)
    result = evaluation.frozen_accuracy(encoder, (images[:30], labels[:30]), (images[30:], labels[30:]), k=5)
    assert result == {
        "knn_top1": evaluation.knn_accuracy(feats[:30], labels[:30], feats[30:], labels[30:], k=5),
        "linear_probe_top1": evaluation.linear_probe(feats[:30], labels[:30], feats[30:], labels[30:]),
    }


@pytest.mark.parametrize("k, batch", [(1, 1024), (4, 3), (30, 7)])
def test_nearest_neighbors_match_brute_force(k, batch):
    rng = np.random.default_rng(k)
    bank, queries = rng.normal(size=(30, 6)), rng.normal(size=(11, 6))
    idx, sims = evaluation.nearest_neighbors(queries, bank * rng.uniform(0.5, 3, (30, 1)), k=k, batch_size=batch)
    for q, row_idx, row_sims in zip(queries, idx, sims):  # cosine ignores the bank rows' lengths
        cosine = [q @ b / (np.linalg.norm(q) * np.linalg.norm(b)) for b in bank]
        expected = sorted(range(len(bank)), key=lambda j: -cosine[j])[:k]
        assert list(row_idx) == expected
        assert row_sims == pytest.approx([cosine[j] for j in expected], abs=1e-5)


def test_nearest_neighbors_finds_each_point_itself_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(20, 5))
    idx, sims = evaluation.nearest_neighbors(bank, bank, k=3)
    assert (idx[:, 0] == np.arange(20)).all() and sims[:, 0] == pytest.approx(1.0, abs=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # most similar first
    with pytest.raises(ValueError, match="k must be between 1 and the bank size"):
        evaluation.nearest_neighbors(bank, bank, k=21)
    with pytest.raises(ValueError, match="differ in feature size"):
        evaluation.nearest_neighbors(bank[:, :4], bank, k=1)
