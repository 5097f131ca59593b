"""Each loss against an independent NumPy computation written the slow, obvious way."""

import numpy as np
import pytest
import reference_losses as ref
import tensorflow as tf

from clr_lib import losses

SHAPES = [(2, 3), (5, 8), (16, 32)]
TEMPERATURES = [0.05, 0.2, 0.5, 1.0]


def normalize(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def log_softmax_at(logits, index):
    m = logits.max()
    return logits[index] - (m + np.log(np.exp(logits - m).sum()))


def ref_nt_xent(a, b, t):
    z = normalize(np.concatenate([a, b]).astype(np.float64))
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        others = [j for j in range(n2) if j != i]
        positive = (i + n2 // 2) % n2
        logits = np.array([z[i] @ z[j] / t for j in others])
        total -= log_softmax_at(logits, others.index(positive))
    return total / n2


def ref_info_nce(q, k, queue, t):
    q, k, queue = (normalize(x.astype(np.float64)) for x in (q, k, queue))
    total = 0.0
    for i in range(len(q)):
        logits = np.array([q[i] @ k[i]] + [q[i] @ r for r in queue]) / t
        total -= log_softmax_at(logits, 0)
    return total / len(q)


def ref_dcl(a, b, t, weights=None):
    a, b = normalize(a.astype(np.float64)), normalize(b.astype(np.float64))
    n = len(a)
    w = np.ones(n) if weights is None else weights
    total = 0.0
    for anchors, positives in ((a, b), (b, a)):
        for i in range(n):
            negatives = [anchors[i] @ positives[j] / t for j in range(n) if j != i]
            negatives += [anchors[i] @ anchors[j] / t for j in range(n) if j != i]
            total += -w[i] * (anchors[i] @ positives[i]) / t + np.log(np.sum(np.exp(negatives)))
    return total / (2 * n)


def ref_dclw_weights(a, b, sigma):
    a, b = normalize(a.astype(np.float64)), normalize(b.astype(np.float64))
    e = np.exp(np.sum(a * b, axis=1) / sigma)
    return 2 - len(a) * e / e.sum()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("t", TEMPERATURES)
def test_nt_xent_matches_numpy(rng, shape, t):
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    np.testing.assert_allclose(losses.nt_xent(a, b, t).numpy(), ref_nt_xent(a, b, t), rtol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("t", [0.07, 0.2, 1.0])
def test_info_nce_matches_numpy(rng, shape, t):
    q, k = rng.normal(size=shape), rng.normal(size=shape)
    queue = rng.normal(size=(11, shape[1]))
    np.testing.assert_allclose(losses.info_nce(q, k, queue, t).numpy(), ref_info_nce(q, k, queue, t), rtol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("t", [0.1, 0.5])
def test_dcl_matches_numpy(rng, shape, t):
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    np.testing.assert_allclose(losses.dcl(a, b, t).numpy(), ref_dcl(a, b, t), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_dclw_matches_numpy(rng, shape, sigma):
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    expected = ref_dcl(a, b, 0.1, ref_dclw_weights(a, b, sigma))
    np.testing.assert_allclose(losses.dclw(a, b, 0.1, sigma).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_margin_loss_matches_formula():
    d = np.array([0.0, 0.5, 1.5, 0.2, 2.0])
    same = np.array([1, 1, 1, 0, 0])
    # similar pairs pay d^2; the dissimilar pair at 0.2 pays (1 - 0.2)^2; the one at 2.0 pays nothing
    expected = (0 + 0.25 + 2.25 + 0.64 + 0) / 5
    np.testing.assert_allclose(losses.contrastive_margin_loss(d, same).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(
        losses.contrastive_margin_loss(d, same, margin=3.0).numpy(), (0 + 0.25 + 2.25 + 2.8**2 + 1.0) / 5, rtol=1e-6
    )


def test_perfect_alignment_gives_lower_nt_xent(rng):
    """Identical views with spread-out images give a lower loss than unrelated views."""
    a = rng.normal(size=(8, 16))
    aligned = losses.nt_xent(a, a, 0.2).numpy()
    unrelated = losses.nt_xent(a, rng.normal(size=(8, 16)), 0.2).numpy()
    assert aligned < unrelated


def test_nt_xent_is_log_2n_minus_1_when_all_embeddings_equal():
    """All similarities equal: the positive is one of 2N-1 equally likely candidates."""
    z = np.ones((5, 3))
    np.testing.assert_allclose(losses.nt_xent(z, z, 0.5).numpy(), np.log(9), rtol=1e-5)


def test_losses_work_inside_tf_function_and_mixed_precision(rng):
    a = tf.constant(rng.normal(size=(4, 8)), tf.float16)
    b = tf.constant(rng.normal(size=(4, 8)), tf.float16)
    compiled = tf.function(lambda x, y: losses.nt_xent(x, y, 0.1), jit_compile=True)
    value = compiled(a, b)
    assert value.dtype == tf.float32
    np.testing.assert_allclose(value.numpy(), ref_nt_xent(a.numpy(), b.numpy(), 0.1), rtol=1e-3)


@pytest.mark.parametrize("loss", [losses.nt_xent, losses.dcl, losses.dclw])
def test_bad_input_is_a_clear_error(loss):
    with pytest.raises(ValueError, match="same shape"):
        loss(np.ones((4, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="N >= 2"):
        loss(np.ones((1, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        loss(np.ones((4, 3)), np.ones((4, 3)), temperature=0.0)
    with pytest.raises(ValueError, match="rank 2"):
        loss(np.ones((4, 3, 2)), np.ones((4, 3, 2)))


def test_info_nce_and_margin_bad_input():
    with pytest.raises(ValueError, match="embedding size"):
        losses.info_nce(np.ones((4, 3)), np.ones((4, 3)), np.ones((8, 5)))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        losses.info_nce(np.ones((4, 3)), np.ones((4, 3)), np.ones((8, 3)), temperature=-1)
    with pytest.raises(ValueError, match="pair labels"):
        losses.contrastive_margin_loss(np.ones(4), np.array([0, 3, 7, 9]))
    with pytest.raises(ValueError, match="same length"):
        losses.contrastive_margin_loss(np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match=">= 0"):
        losses.contrastive_margin_loss(-np.ones(2), np.ones(2))


def test_info_nce_refuses_an_empty_queue():
    """With no negatives the softmax has one logit and the loss is 0 whatever the embeddings."""
    with pytest.raises(ValueError, match="queue is empty"):
        losses.info_nce(np.ones((4, 3)), np.ones((4, 3)), np.ones((0, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["query", "key", "queue"])
def test_info_nce_refuses_non_finite_embeddings_when_eager(rng, bad, where):
    inputs = {"query": rng.normal(size=(4, 3)), "key": rng.normal(size=(4, 3)), "queue": rng.normal(size=(8, 3))}
    inputs[where][1, 2] = bad
    with pytest.raises(ValueError, match=f"{where} holds NaN or inf"):
        losses.info_nce(inputs["query"], inputs["key"], inputs["queue"])
    with pytest.raises(ValueError, match="z_b holds NaN or inf"):
        losses.nt_xent(rng.normal(size=(4, 3)), inputs[where][:4])


def test_info_nce_traces_under_xla_and_matches_numpy(rng):
    """The eager-only checks must not break tracing: the compiled loss is the reference."""
    q, k, queue = rng.normal(size=(4, 8)), rng.normal(size=(4, 8)), rng.normal(size=(16, 8))
    compiled = tf.function(lambda a, b, c: losses.info_nce(a, b, c, 0.1), jit_compile=True)
    value = compiled(*(tf.constant(x, tf.float32) for x in (q, k, queue)))
    np.testing.assert_allclose(value.numpy(), ref_info_nce(q, k, queue, 0.1), rtol=1e-4)


@pytest.mark.parametrize("temperature", [True, "0.1", None, [0.1], tf.constant(0.1)])
def test_temperatures_that_are_not_numbers_are_a_type_error(temperature):
    with pytest.raises(TypeError, match="temperature must be a real number"):
        losses.info_nce(np.ones((4, 3)), np.ones((4, 3)), np.ones((8, 3)), temperature=temperature)


@pytest.mark.parametrize("temperature", [1e-40, 1e-5, 0.99e-4])
def test_temperatures_too_small_for_float32_are_refused(temperature):
    with pytest.raises(ValueError, match="too small for float32.*>= 0.0001"):
        losses.info_nce(np.ones((4, 3)), np.ones((4, 3)), np.ones((8, 3)), temperature=temperature)
    with pytest.raises(ValueError, match="too small for float32"):
        losses.nt_xent(np.ones((4, 3)), np.ones((4, 3)), temperature=temperature)


@pytest.mark.parametrize(
    "loss, reference",
    [(lambda q, k, t: losses.info_nce(q, k, k[::-1], t), lambda q, k, t: ref_info_nce(q, k, k[::-1], t)),
     (losses.nt_xent, ref_nt_xent)],
    ids=["info_nce", "nt_xent"],
)
def test_the_smallest_allowed_temperature_still_matches_float64(rng, loss, reference):
    """At MIN_TEMPERATURE the logits reach 1e4: float32 must still give the float64 value."""
    q, k = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    t = losses.MIN_TEMPERATURE
    np.testing.assert_allclose(loss(q, k, t).numpy(), reference(q, k, t), rtol=1e-3)


def test_check_temperature_is_public_and_returns_a_float():
    assert losses.check_temperature(np.float32(0.25)) == 0.25 and type(losses.check_temperature(1)) is float
    assert losses.check_temperature(1e-30, minimum=0.0) == 1e-30
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma must be > 0 and finite"):
            losses.check_temperature(bad, "sigma")


def ref_nnclr(nn, p, t):
    nn, p = normalize(nn.astype(np.float64)), normalize(p.astype(np.float64))
    return -np.mean([log_softmax_at(nn[i] @ p.T / t, i) for i in range(len(nn))])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("t", [0.1, 0.5])
def test_nnclr_loss_matches_numpy(rng, shape, t):
    nn, p = rng.normal(size=shape), rng.normal(size=shape)
    np.testing.assert_allclose(losses.nnclr_loss(nn, p, t).numpy(), ref_nnclr(nn, p, t), rtol=1e-4)


def ref_n_pair(a, b):
    """Sohn (2016), eq. 4: mean of log(1 + sum_{j != i} exp(f_i . f+_j - f_i . f+_i))."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    total = 0.0
    for i in range(len(a)):
        total += np.log1p(sum(np.exp(a[i] @ b[j] - a[i] @ b[i]) for j in range(len(a)) if j != i))
    return total / len(a)


@pytest.mark.parametrize("shape", SHAPES)
def test_n_pair_loss_matches_numpy(rng, shape):
    a, b = 0.5 * rng.normal(size=shape), 0.5 * rng.normal(size=shape)
    np.testing.assert_allclose(losses.n_pair_loss(a, b).numpy(), ref_n_pair(a, b), rtol=1e-4)


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_n_pair_on_scaled_unit_vectors_is_in_batch_info_nce(rng, t):
    """normalize(z) / sqrt(t) turns the dot products into cosine / t: one direction of in-batch InfoNCE."""
    a, b = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    scaled = [normalize(x) / np.sqrt(t) for x in (a, b)]
    expected = -np.mean([log_softmax_at(normalize(a)[i] @ normalize(b).T / t, i) for i in range(6)])
    np.testing.assert_allclose(losses.n_pair_loss(*scaled).numpy(), expected, rtol=1e-4)


def test_n_pair_loss_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        losses.n_pair_loss(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="N >= 2"):
        losses.n_pair_loss(np.ones((1, 3)), np.ones((1, 3)))


# The row functions: the loss of each anchor, here for a slice of the anchors (rows ``lo:hi`` of
# the ``2N``, as one replica of several computes them) against all ``2N`` candidates.

def two_views(a, b):
    """``z = normalize([a; b])`` ``(2N, D)``, each view's own column and its other view's, ``(2N,)``."""
    n = len(a)
    z = tf.math.l2_normalize(tf.constant(np.concatenate([a, b]), tf.float32), axis=1)
    return z, tf.range(2 * n), tf.constant(np.concatenate([np.arange(n, 2 * n), np.arange(n)]), tf.int32)


def test_similarity_logits_matches_numpy(rng):
    a, c = normalize(rng.normal(size=(3, 5))), normalize(rng.normal(size=(7, 5)))
    got = losses.similarity_logits(tf.constant(a, tf.float32), tf.constant(c, tf.float32), 0.2).numpy()
    assert got.shape == (3, 7)
    np.testing.assert_allclose(got, a @ c.T / 0.2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lo, hi", [(0, 10), (2, 5), (7, 10)])
def test_nt_xent_rows_matches_numpy(rng, lo, hi):
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    z, own, positive = two_views(a, b)
    scores = losses.similarity_logits(z[lo:hi], z, 0.2)
    got = losses.nt_xent_rows(scores, positive[lo:hi], exclude=own[lo:hi]).numpy()
    np.testing.assert_allclose(got, ref.nt_xent_rows(a, b, 0.2)[lo:hi], rtol=1e-4)


def test_nt_xent_rows_without_exclude_is_nnclr(rng):
    nn, p = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    scores = losses.similarity_logits(*(tf.constant(normalize(x), tf.float32) for x in (nn, p)), 0.1)
    np.testing.assert_allclose(losses.nt_xent_rows(scores, tf.range(6)).numpy(), ref.nnclr_rows(nn, p, 0.1), rtol=1e-4)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("lo, hi", [(0, 10), (3, 8)])
def test_dcl_rows_matches_numpy(rng, weighted, lo, hi):
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    z, own, positive = two_views(a, b)
    w = ref.dclw_weights(a, b, 0.5) if weighted else None
    weight = 1.0 if w is None else tf.constant(np.concatenate([w, w])[lo:hi], tf.float32)
    got = losses.dcl_rows(losses.similarity_logits(z[lo:hi], z, 0.1), positive[lo:hi], own[lo:hi], weight).numpy()
    np.testing.assert_allclose(got, ref.dcl_rows(a, b, 0.1, w)[lo:hi], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("clamp", [False, True])
def test_dclw_weights_matches_numpy(clamp):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(8, 4)), rng.normal(size=(8, 4))
    b[0] = a[0]  # a pair far better aligned than the rest: a negative weight, 0 when clamped
    cosines = tf.constant(np.sum(normalize(a) * normalize(b), axis=1), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(cosines)
        weight = losses.dclw_weights(cosines, 0.5, clamp)
    expected = ref.dclw_weights(a, b, 0.5, clamp=clamp)
    assert (expected[0] == 0) if clamp else (expected[0] < 0)
    np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-4, atol=1e-6)
    assert tape.gradient(tf.reduce_sum(weight), cosines) is None  # a constant: no gradient


def test_supcon_matches_equation_2_of_khosla_et_al():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(10, 6))
    labels = np.array([0, 1, 0, 2, 1, 0, 3, 2, 1, 0])  # class 3 has a single view: no term for it
    rows = ref.supcon_rows(z, labels, 0.1)
    assert np.isnan(rows[6]) and np.isfinite(np.delete(rows, 6)).all()
    np.testing.assert_allclose(float(losses.supcon(z, labels, temperature=0.1)), np.nanmean(rows), rtol=1e-5)


def test_supcon_with_one_image_per_class_is_nt_xent():
    rng = np.random.default_rng(8)
    z_a, z_b = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    labels = np.concatenate([np.arange(5), np.arange(5)])  # each image its own class: its other view is the positive
    np.testing.assert_allclose(float(losses.supcon(np.concatenate([z_a, z_b]), labels, 0.5)),
                               float(losses.nt_xent(z_a, z_b, 0.5)), rtol=1e-5)


def test_supcon_rejects_what_it_cannot_use():
    z = np.ones((4, 3))
    with pytest.raises(ValueError, match="no view in the batch shares its class"):
        losses.supcon(z, [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\)"):
        losses.supcon(z, [0, 1, 0])
    with pytest.raises(TypeError, match="integer classes"):
        losses.supcon(z, [0.0, 1.0, 0.0, 1.0])
