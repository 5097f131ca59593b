"""Evaluation metrics against brute-force computations and known closed forms."""

import tracemalloc

import numpy as np
import pytest

from clr_lib import evaluation, models


def brute_force_knn(train, train_y, test, test_y, k, t):
    """Weighted kNN the slow way, in float64, with the documented tie rules: equally similar
    neighbors are taken in bank order, and of classes with equal votes the lowest label wins.
    Votes are kept as logs, log sum exp(s_j / t), so no temperature overflows."""
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    correct = 0
    for x, y in zip(test, test_y):
        s = train @ (x / np.linalg.norm(x))
        nearest = sorted(range(len(train)), key=lambda j: -s[j])[:k]  # sorted() is stable
        log_votes = {}
        for j in nearest:
            log_votes[train_y[j]] = np.logaddexp(log_votes.get(train_y[j], -np.inf), s[j] / t)
        best = max(log_votes.values())
        correct += min(c for c, v in log_votes.items() if v == best) == y
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


def test_knn_ties_follow_the_documented_rules():
    e1 = np.array([[1.0, 0.0, 0.0]])
    # Two equally similar neighbors of classes 1 and 0: a tie of votes, the lowest label wins,
    # wherever it sits in the bank.
    for labels in ([1, 0], [0, 1]):
        assert evaluation.knn_accuracy(np.r_[e1, e1], labels, e1, [0], k=2) == 1.0
    assert evaluation.knn_accuracy(np.r_[e1, e1], [5, 3], e1, [3], k=2) == 1.0
    # Three equally similar neighbors and k = 1: the first in the bank is taken (class 2); with
    # k = 2 the first two (classes 2 and 0) tie and class 0 wins.
    bank = np.r_[e1, e1, e1]
    assert evaluation.knn_accuracy(bank, [2, 0, 1], e1, [2], k=1) == 1.0
    assert evaluation.knn_accuracy(bank, [2, 0, 1], e1, [0], k=2) == 1.0


@pytest.mark.parametrize("k, t, batch", [(1, 0.1, 5), (3, 0.1, 1024), (4, 1.0, 2), (7, 0.05, 3), (60, 0.5, 7)])
def test_knn_matches_brute_force_with_many_ties(k, t, batch):
    """Rows drawn from the six directions +-e_i (scaled by powers of two, which normalise
    exactly): every similarity is exactly -1, 0 or 1, so neighbor and vote ties are everywhere."""
    rng = np.random.default_rng(k)
    directions = np.r_[np.eye(3), -np.eye(3)]
    train = directions[rng.integers(0, 6, 50)] * 2.0 ** rng.integers(-3, 4, (50, 1))
    test = directions[rng.integers(0, 6, 30)] * 2.0 ** rng.integers(-3, 4, (30, 1))
    train_y, test_y = rng.integers(0, 4, 50), rng.integers(0, 4, 30)
    got = evaluation.knn_accuracy(train, train_y, test, test_y, k=k, temperature=t, batch_size=batch)
    assert got == brute_force_knn(train, train_y, test, test_y, k, t)


@pytest.mark.parametrize("t", [1e-3, 1e-6, 1e-30])
def test_knn_is_stable_at_tiny_temperatures(t):
    """exp(s / t) overflows for t = 1e-3; the vote must still be that of the nearest neighbors."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 10)
    separable = np.eye(4)[labels] + 0.01 * rng.normal(size=(40, 4))
    assert evaluation.knn_accuracy(separable, labels, separable, labels, k=10, temperature=t) == 1.0
    noisy = np.eye(4)[labels] + 0.6 * rng.normal(size=(40, 4))
    expected = brute_force_knn(noisy[::2], labels[::2], noisy[1::2], labels[1::2], 5, t)
    assert evaluation.knn_accuracy(noisy[::2], labels[::2], noisy[1::2], labels[1::2], k=5, temperature=t) == expected


def test_knn_labels_may_be_any_size_and_integral_floats():
    """Votes go to the labels present, so a label of 2**40 needs no per-class memory."""
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(3, 8))
    train_c, test_c = rng.integers(0, 3, 120), rng.integers(0, 3, 40)
    train = centers[train_c] + 1.2 * rng.normal(size=(120, 8))
    test = centers[test_c] + 1.2 * rng.normal(size=(40, 8))
    names = np.array([2**40, 7, 0])  # class c is called names[c]: its order differs from c's
    expected = brute_force_knn(train, names[train_c], test, names[test_c], 9, 0.1)
    assert 0.4 < expected < 1.0
    assert evaluation.knn_accuracy(train, names[train_c], test, names[test_c], k=9) == expected
    as_floats = evaluation.knn_accuracy(train, names[train_c] * 1.0, test, names[test_c] * 1.0, k=9)
    assert as_floats == expected


def test_knn_bad_input_is_a_clear_error():
    rng = np.random.default_rng(0)
    feats, labels = rng.normal(size=(40, 4)), np.repeat(np.arange(4), 10)

    def knn(train=feats, train_y=labels, test=feats, test_y=labels, **kwargs):
        return evaluation.knn_accuracy(train, train_y, test, test_y, **kwargs)

    for k in (0, -1):
        with pytest.raises(ValueError, match="k must be a positive int"):
            knn(k=k)
    for k in (2.5, True):
        with pytest.raises(TypeError, match="k must be a positive int"):
            knn(k=k)
    with pytest.raises(ValueError, match="train features are empty"):
        knn(train=feats[:0], train_y=labels[:0])
    with pytest.raises(ValueError, match="test features are empty"):
        knn(test=feats[:0], test_y=labels[:0])
    with pytest.raises(ValueError, match="whole numbers"):
        knn(train_y=labels + 1 - 1e-9)
    with pytest.raises(ValueError, match="whole numbers"):
        knn(test_y=np.where(labels == 3, np.nan, labels))
    with pytest.raises(ValueError, match=">= 0, got -1"):
        knn(train_y=np.where(labels == 3, -1, labels))
    with pytest.raises(TypeError, match="integer class indices"):
        knn(train_y=labels == 1)
    with pytest.raises(ValueError, match="one label per feature row"):
        knn(test_y=labels[:-1])
    broken = feats.copy()
    broken[7] = np.nan
    with pytest.raises(ValueError, match="train features hold NaN or inf in 1 of 40 rows"):
        knn(train=broken)
    with pytest.raises(ValueError, match="test features hold NaN or inf"):
        knn(test=np.where(broken == broken, broken, np.inf))
    with pytest.raises(TypeError, match="temperature must be a real number"):
        knn(temperature=True)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        knn(temperature=0.0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        knn(batch_size=0)


def test_linear_probe_beats_chance_only_with_signal():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    informative = np.c_[y + 0.3 * rng.normal(size=400), rng.normal(size=(400, 5))]
    assert evaluation.linear_probe(informative[:300], y[:300], informative[300:], y[300:]) > 0.9
    noise = rng.normal(size=(400, 6))
    assert evaluation.linear_probe(noise[:300], y[:300], noise[300:], y[300:]) < 0.7


def test_linear_probe_with_one_class_is_a_clear_error():
    feats = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="at least 2 classes.*only class 4"):
        evaluation.linear_probe(feats, np.full(20, 4), feats, np.full(20, 4))


def mean_cv_accuracy(x, y, c):
    """3-fold stratified CV accuracy of a standardised logistic regression, one fold at a time."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    scores = []
    for fit, held_out in StratifiedKFold(3).split(x, y):
        mean, std = x[fit].mean(axis=0), x[fit].std(axis=0)
        model = LogisticRegression(C=c, max_iter=1000).fit((x[fit] - mean) / std, y[fit])
        scores.append(model.score((x[held_out] - mean) / std, y[held_out]))
    return np.mean(scores)


def test_linear_probe_chooses_the_best_cross_validated_c_strong_for_noise():
    """60 images, 1 informative feature and 150 of noise: the choice must be the C of best
    3-fold CV accuracy, computed here fold by fold (ties: the smaller C), and a strong one."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    feats = np.c_[y + 0.5 * rng.normal(size=60), rng.normal(size=(60, 150))]
    chosen = evaluation.fit_linear_probe(feats, y).best_params_["logisticregression__C"]
    by_hand = {c: mean_cv_accuracy(feats, y, c) for c in evaluation.PROBE_CS}
    assert chosen == max(evaluation.PROBE_CS, key=lambda c: (by_hand[c], -c))
    assert chosen <= 0.1


def test_linear_probe_chooses_weak_regularisation_when_the_signal_is_a_difference():
    """The class is in x1 - x2 of two features sharing a large noise z: an unregularised
    logistic regression finds w ~ (1, -1) and is near perfect, while a strongly regularised one
    (its weights tend to the class-mean difference, which is mostly x1's) sees a small shift in
    a large noise. The search must pick the weakest regularisation and match C = 10."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1200)
    z = 3 * rng.normal(size=1200)
    feats = np.c_[z + (y - 0.5) + 0.1 * rng.normal(size=1200), z + 0.1 * rng.normal(size=1200),
                  rng.normal(size=(1200, 3))]
    train, test = slice(0, 200), slice(200, None)
    assert evaluation.fit_linear_probe(feats[train], y[train]).best_params_["logisticregression__C"] == 10.0
    assert evaluation.linear_probe(feats[train], y[train], feats[test], y[test]) > 0.97
    assert evaluation.linear_probe(feats[train], y[train], feats[test], y[test], c=0.01) < 0.6


def test_linear_probe_c_fixes_the_regularisation():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 90)
    feats = np.c_[y + rng.normal(size=90), rng.normal(size=(90, 4))]
    probe = evaluation.fit_linear_probe(feats, y, c=0.37)
    assert probe[-1].C == 0.37 and not hasattr(probe, "best_params_")
    scaled = (feats - feats.mean(axis=0)) / feats.std(axis=0)
    by_hand = LogisticRegression(C=0.37, max_iter=1000).fit(scaled, y)
    np.testing.assert_array_equal(probe.predict(feats), by_hand.predict(scaled))
    with pytest.warns(UserWarning, match="class 2 has 1: C is fixed at 1.0"):
        assert evaluation.fit_linear_probe(feats[:31], np.r_[np.zeros(15), np.ones(15), [2]])[-1].C == 1.0
    assert evaluation.fit_linear_probe(feats[:31], np.r_[np.zeros(15), np.ones(15), [2]], c=1.0)[-1].C == 1.0


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


def naive_uniformity(z, t):
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    pairs = [np.sum((z[i] - z[j]) ** 2) for i in range(len(z)) for j in range(i + 1, len(z))]
    return np.log(np.mean(np.exp(-t * np.array(pairs))))


@pytest.mark.parametrize("block", [1, 5, 36, 37, 1000])
@pytest.mark.parametrize("t", [0.5, 2.0])
def test_uniformity_blockwise_matches_the_naive_formula(block, t):
    z = np.random.default_rng(block).normal(size=(37, 5))
    assert evaluation.uniformity(z, t, block_size=block) == pytest.approx(naive_uniformity(z, t), abs=1e-9)


def test_uniformity_memory_grows_as_n_times_the_block():
    """4,000 embeddings: the N^2 float64 distances alone would take 128 MB."""
    z = np.random.default_rng(0).normal(size=(4000, 8))
    tracemalloc.start()
    try:
        evaluation.uniformity(z)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4000 * 4000 * 8 / 4


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


# --- intervals over the test sample and over seeds -------------------------------------------


def test_accuracy_interval_is_wilsons():
    from clr_lib.evaluation import accuracy_interval

    low, high = accuracy_interval(0.5, 100)  # z = 1.95996: (0.5 -+ 0.0960) / 1.0384 + 0.0192 / 1.0384 ...
    assert low == pytest.approx(0.40383, abs=1e-5) and high == pytest.approx(0.59617, abs=1e-5)
    assert accuracy_interval(1.0, 20)[1] == pytest.approx(1.0) and accuracy_interval(0.0, 20)[0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="fraction in"):
        accuracy_interval(58.6, 10_000)
    with pytest.raises(ValueError, match="confidence"):
        accuracy_interval(0.5, 100, confidence=95)


def test_accuracy_interval_covers_the_true_accuracy_95_times_in_100():
    from clr_lib.evaluation import accuracy_interval

    rng = np.random.default_rng(0)
    p, n = 0.3, 400
    hits = [lo <= p <= hi for lo, hi in (accuracy_interval(k / n, n) for k in rng.binomial(n, p, 4000))]
    assert 0.935 <= np.mean(hits) <= 0.965


def test_difference_interval_is_welchs_t_interval():
    from scipy.stats import ttest_ind

    from clr_lib.evaluation import difference_interval

    a, b = [0.586, 0.579, 0.591], [0.561, 0.570, 0.552, 0.566]
    difference, low, high = difference_interval(a, b)
    reference = ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert difference == pytest.approx(np.mean(a) - np.mean(b))
    assert (low, high) == pytest.approx((reference.low, reference.high), rel=1e-9)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        difference_interval([0.5], b)


def test_difference_interval_covers_the_true_difference_about_95_times_in_100():
    from clr_lib.evaluation import difference_interval

    rng = np.random.default_rng(1)
    hits = []
    for _ in range(3000):
        _, low, high = difference_interval(rng.normal(0.60, 0.01, 3), rng.normal(0.58, 0.02, 3))
        hits.append(low <= 0.02 <= high)
    assert 0.93 <= np.mean(hits) <= 0.975


@pytest.mark.parametrize("low, high, sign, expected", [
    (0.01, 0.03, 1, "supported"), (0.01, 0.03, -1, "contradicted"),
    (-0.03, -0.01, -1, "supported"), (-0.03, -0.01, 1, "contradicted"),
    (-0.01, 0.02, 1, "inconclusive"), (0.0, 0.02, 1, "inconclusive"),
])
def test_verdict_follows_the_interval(low, high, sign, expected):
    from clr_lib.evaluation import verdict

    assert verdict(low, high, sign) == expected


def test_evidence_entry_holds_the_welch_interval_and_its_verdict():
    from scipy.stats import ttest_ind

    from clr_lib.evaluation import evidence

    large, small = [0.612, 0.618, 0.609], [0.581, 0.590, 0.585]
    entry = evidence("a larger queue helps", "he2020momentum", large, small)
    reference = ttest_ind(large, small, equal_var=False).confidence_interval(0.95)
    assert entry["claim"] == "a larger queue helps" and entry["source"] == "he2020momentum"
    assert entry["measured"] == pytest.approx(np.mean(large) - np.mean(small))
    assert entry["interval"] == pytest.approx([reference.low, reference.high], rel=1e-9)
    assert entry["seeds"] == 3 and entry["verdict"] == "supported"
    assert evidence("a smaller queue helps", "x", large, small, predicted_sign=-1)["verdict"] == "contradicted"
    assert evidence("no effect", "x", [0.60, 0.62], [0.61, 0.60])["verdict"] == "inconclusive"
