"""DCLW's weights (Yeh et al. 2022) against NumPy: their formula, a negative weight for a pair far
better aligned than the rest, the clamp at 0, and no gradient through them."""

import numpy as np
import pytest
import reference_losses as ref
import tensorflow as tf

from clr_lib import losses, methods, models
from clr_lib.methods import _rowwise


def dclw_model(clamp: bool = False, sigma: float = 0.5) -> methods.DCL:
    encoder = models.small_cnn(widths=(8,), input_shape=(8, 8, 3))
    return methods.DCL(encoder, projection_dims=(8, 4), temperature=0.1, weighted=True, sigma=sigma,
                       clamp_weights=clamp)


def model_dclw(model: methods.DCL, z_a: tf.Tensor, z_b: tf.Tensor) -> tf.Tensor:
    """The loss the model computes from projections ``(N, D)`` (one device: all anchors)."""
    return tf.reduce_mean(model.anchor_losses(*_rowwise.two_view_rows(z_a, z_b)))


def one_aligned_pair(n: int = 8, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Projections whose pair 0 is identical (cosine 1) and the others unrelated."""
    rng = np.random.default_rng(seed)
    z_a, z_b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    z_b[0] = z_a[0]
    return z_a.astype("float32"), z_b.astype("float32")


def test_a_well_aligned_pair_gets_a_negative_weight_and_the_clamp_zeroes_it():
    z_a, z_b = one_aligned_pair()
    weights = ref.dclw_weights(z_a, z_b, 0.5)
    np.testing.assert_allclose(weights.mean(), 1.0)  # the weights average 1
    assert weights[0] < 0 and (np.delete(weights, 0) > 0).all()  # 2 - N e^2 / sum_j e^(s_j / 0.5) < 0
    for clamp in (False, True):
        expected = ref.dcl_rows(z_a, z_b, 0.1, ref.dclw_weights(z_a, z_b, 0.5, clamp=clamp)).mean()
        np.testing.assert_allclose(model_dclw(dclw_model(clamp), z_a, z_b).numpy(), expected, rtol=1e-5)
    unclamped, clamped = (ref.dcl_rows(z_a, z_b, 0.1, ref.dclw_weights(z_a, z_b, 0.5, c)).mean() for c in (False, True))
    assert abs(clamped - unclamped) > 1e-2  # the clamp changes the loss here


def test_clamped_dclw_round_trips_its_option():
    model = dclw_model(clamp=True)
    assert methods.DCL.from_config(model.get_config()).clamp_weights is True
    assert dclw_model().clamp_weights is False  # the paper's weights by default


def numpy_gradient(loss, z: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central differences of ``loss(z)`` (float64) with respect to every entry of ``z``."""
    grad = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[index] = eps
        grad[index] = (loss(z + step) - loss(z - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("which", ["model", "losses.dclw"])
def test_dclw_weights_carry_no_gradient(which):
    """d(DCLW)/dz_a is the gradient of DCL with the weights held at their values for z_a:
    NumPy's central differences of that fixed-weight loss, not those of the loss whose weights
    move with z_a."""
    rng = np.random.default_rng(1)
    z_a, z_b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    fixed = ref.dclw_weights(z_a, z_b, 0.5)
    expected = numpy_gradient(lambda z: ref.dcl_rows(z, z_b, 0.1, fixed).mean(), z_a)
    moving = numpy_gradient(lambda z: ref.dcl_rows(z, z_b, 0.1, ref.dclw_weights(z, z_b, 0.5)).mean(), z_a)
    assert np.abs(moving - expected).max() > 1e-2  # the test tells the two apart
    a = tf.Variable(z_a.astype("float32"))
    with tf.GradientTape() as tape:
        if which == "model":
            loss = model_dclw(dclw_model(), a, tf.constant(z_b, tf.float32))
        else:
            loss = losses.dclw(a, z_b.astype("float32"), 0.1, 0.5)
    np.testing.assert_allclose(tape.gradient(loss, a).numpy(), expected, atol=1e-4)


def test_losses_dclw_clamps_its_weights_at_zero():
    z_a, z_b = one_aligned_pair()
    for clamp in (False, True):
        expected = ref.dcl_rows(z_a, z_b, 0.1, ref.dclw_weights(z_a, z_b, 0.5, clamp=clamp)).mean()
        np.testing.assert_allclose(losses.dclw(z_a, z_b, 0.1, 0.5, clamp=clamp).numpy(), expected, rtol=1e-5)
