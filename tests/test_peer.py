"""benchmarks/peer_kerasio.py: the keras.io SimCLR recipe, rebuilt, does what the example does."""

import sys
from pathlib import Path

import numpy as np
import reference_losses as ref
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import peer_kerasio as peer  # noqa: E402


def test_colour_affine_is_the_drawn_matrix_applied_to_every_pixel():
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    layer = peer.ColourAffine(brightness=0.6, jitter=0.2)
    seed = tf.constant([3, 4])
    matrices = layer.draw(4, seed).numpy()[:, 0]  # (4, 3, 3)
    off_diagonal = matrices[:, ~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off_diagonal) <= 0.2) and np.all(np.abs(matrices[:, range(3), range(3)] - 1) <= 0.6 + 0.2)
    expected = np.clip(np.einsum("nhwc,ncd->nhwd", images, matrices), 0, 255)
    np.testing.assert_allclose(layer(images, seed=seed).numpy(), expected, rtol=1e-5, atol=1e-3)


def test_peer_loss_is_the_two_way_cross_entropy_of_the_n_by_n_similarities():
    rng = np.random.default_rng(1)
    z_a, z_b = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    model = peer.PeerSimCLR(peer.peer_encoder())
    a, b = ref.unit(z_a), ref.unit(z_b)
    logits = a @ b.T / peer.TEMPERATURE
    one_way = ref.logsumexp(logits) - np.diag(logits)
    other_way = ref.logsumexp(logits.T) - np.diag(logits)
    expected = np.mean(one_way + other_way) / 2
    np.testing.assert_allclose(float(model.pair_loss(tf.constant(z_a, tf.float32), tf.constant(z_b, tf.float32))),
                               expected, rtol=1e-5)


def test_peer_encoder_and_augmentation_shapes():
    encoder = peer.peer_encoder()
    assert encoder(np.zeros((2, 32, 32, 3), "float32")).shape == (2, peer.WIDTH)
    views = peer.PeerAugment(seed=0)(np.full((3, 32, 32, 3), 128, "uint8"), seed=tf.constant([0, 1])).numpy()
    assert views.shape == (3, 32, 32, 3) and views.min() >= 0 and views.max() <= 255
