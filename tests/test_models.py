"""Encoders and heads: shapes, input handling, and architecture facts checked against known counts."""

import keras
import numpy as np
import pytest

from clr_lib import models


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "build, dim",
    [(models.small_cnn, 256), (lambda: models.small_cnn(widths=(16, 32), convs_per_stage=2), 32),
     (models.small_cnn_slim, 192), (lambda: models.resnet18_cifar(width=8), 64)],
)
def test_encoders_map_uint8_and_float_images_to_features(images, build, dim):
    encoder = build()
    from_uint8 = encoder(images, training=False).numpy()
    from_float = encoder(images.astype("float32"), training=False).numpy()
    assert from_uint8.shape == (4, dim)
    np.testing.assert_allclose(from_uint8, from_float, rtol=1e-5, atol=1e-6)


def test_small_cnn_slim_weights_counted_by_hand():
    """3x3 convs without bias 3->24->48->96->192 plus a BN scale and offset per channel."""
    convs = 9 * (3 * 24 + 24 * 48 + 48 * 96 + 96 * 192)
    batch_norm = 2 * (24 + 48 + 96 + 192)
    encoder = models.get_encoder("small_cnn_slim")
    assert sum(int(np.prod(w.shape)) for w in encoder.trainable_weights) == convs + batch_norm == 219_096


def test_resnet18_cifar_has_the_standard_parameter_count():
    """ResNet-18 (CIFAR variant) without its 10-way classifier has 11,168,832 trainable weights
    (11,173,962 with the 512x10 + 10 classifier, the count torchvision-style CIFAR code reports)."""
    encoder = models.resnet18_cifar()
    trainable = sum(int(np.prod(w.shape)) for w in encoder.trainable_weights)
    assert trainable == 11_168_832


def test_resnet18_cifar_stem_is_3x3_stride_1_without_max_pool():
    encoder = models.resnet18_cifar(width=8)
    stem = encoder.get_layer("stem_conv")
    assert stem.kernel_size == (3, 3) and stem.strides == (1, 1)
    assert not any("pool" in layer.name and "features" not in layer.name for layer in encoder.layers)
    assert encoder.get_layer("stage0_1_out").output.shape[1:3] == (32, 32)  # full resolution in stage 0


def test_resnet50_matches_keras_applications():
    encoder = models.resnet50()
    assert encoder.output_shape == (None, 2048)
    trainable = sum(int(np.prod(w.shape)) for w in encoder.trainable_weights)
    assert trainable == 23_534_592  # keras.applications.ResNet50(include_top=False)


def test_sync_batch_norm_option():
    encoder = models.resnet18_cifar(width=8, sync_batch_norm=True)
    assert all(layer.synchronized for layer in encoder.layers if layer.__class__.__name__ == "BatchNormalization")


def test_heads_shapes_and_structure():
    head = models.projection_head((64, 32))
    out = head(np.ones((5, 16), "float32"))
    assert out.shape == (5, 32)
    kinds = [type(layer).__name__ for layer in head.layers]
    assert kinds == ["Dense", "BatchNormalization", "ReLU", "Dense"]
    assert models.prediction_head((8,), batch_norm=False)(np.ones((2, 4), "float32")).shape == (2, 8)


def test_bad_names_and_dims_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown encoder 'vgg'"):
        models.get_encoder("vgg")
    with pytest.raises(ValueError, match="at least one layer"):
        models.projection_head(())


@pytest.mark.parametrize("kwargs, match", [
    ({"widths": ()}, "widths must be one positive int per stage"),
    ({"widths": (16, 0)}, "widths must be one positive int per stage"),
    ({"convs_per_stage": 0}, "convs_per_stage must be a positive int"),
])
def test_small_cnn_without_layers_is_refused(kwargs, match):
    """widths=() or no convolutions would leave the 3 standardised channels as the 'features'."""
    with pytest.raises(ValueError, match=match):
        models.small_cnn(**kwargs)


@pytest.mark.parametrize("name", list(models.ENCODERS))
@pytest.mark.parametrize("shape", [(8, 8, 1), (32, 32, 4), (32, 32)])
def test_encoders_refuse_images_that_are_not_rgb(name, shape):
    with pytest.raises(ValueError, match=r"takes RGB images, input_shape \(H, W, 3\)"):
        models.get_encoder(name, input_shape=shape)


@pytest.mark.parametrize("stages", [1, 2, 4])
def test_small_cnn_needs_two_to_the_pools_pixels(stages):
    """Each 2x2 max-pool (no padding) takes a side s to floor(s / 2), so stages - 1 pools leave
    at least one pixel exactly when s >= 2 ** (stages - 1)."""
    widths, side = tuple(8 * 2**i for i in range(stages)), 2 ** (stages - 1)
    encoder = models.small_cnn(widths, input_shape=(side, side + 3, 3))
    assert encoder(np.zeros((2, side, side + 3, 3), np.uint8)).shape == (2, widths[-1])
    if side > 1:
        with pytest.raises(ValueError, match=f"at least {side} x {side} pixels, got {side - 1} x {side}"):
            models.small_cnn(widths, input_shape=(side - 1, side, 3))


def test_resnets_minimum_image_sides():
    """resnet18_cifar pads its strided convolutions, so even 1 x 1 works; ResNet-50 halves the
    side five times and keras.applications asks for 32 x 32."""
    assert models.resnet18_cifar(width=4, input_shape=(1, 1, 3))(np.zeros((1, 1, 1, 3))).shape == (1, 32)
    with pytest.raises(ValueError, match="resnet50 halves the image side 5 times.*at least 32 x 32"):
        models.get_encoder("resnet50", input_shape=(16, 16, 3))


def test_patch_whitening_gives_its_own_images_unit_variance_uncorrelated_patch_responses():
    rng = np.random.default_rng(0)
    # correlated pixels (a smooth image plus noise), so whitening has something to undo
    base = rng.uniform(0, 255, (40, 5, 5, 3)).repeat(2, axis=1).repeat(2, axis=2)[:, :9, :9]
    images = np.clip(base + rng.normal(0, 20, base.shape), 0, 255)
    eps = 1e-6
    kernel = models.patch_whitening(images, patch=2, eps=eps)
    assert kernel.shape == (2, 2, 3, 24)
    np.testing.assert_array_equal(kernel[..., 12:], -kernel[..., :12])  # each filter and its negative
    # the responses, computed here by hand: every 2x2 patch (rows, then columns, then channels) times a filter
    x = (images / 255.0 - np.array(models.CIFAR_MEAN)) / np.array(models.CIFAR_STD)
    patches = np.stack([x[:, i:i + 8, j:j + 8] for i in (0, 1) for j in (0, 1)], axis=3).reshape(-1, 12)
    responses = patches @ kernel[..., :12].reshape(12, 12)
    np.testing.assert_allclose(np.cov(responses, rowvar=False), np.eye(12), atol=1e-4)
    # the encoder's frozen stem computes the same responses (before its ReLU)
    encoder = models.small_cnn((4, 8), input_shape=(9, 9, 3), whitening=kernel)
    stem = keras.Model(encoder.input, encoder.get_layer("whitening").output)
    np.testing.assert_allclose(stem.predict(images, verbose=0)[..., :12].reshape(-1, 12), responses, atol=1e-3)
    assert all("whitening" not in w.path for w in encoder.trainable_weights)
    assert encoder(images[:2]).shape == (2, 8)


def test_patch_whitening_refuses_what_it_cannot_whiten():
    with pytest.raises(ValueError, match="at least 2 RGB images"):
        models.patch_whitening(np.zeros((1, 8, 8, 3)))
    with pytest.raises(ValueError, match="at least 2 RGB images"):
        models.patch_whitening(np.zeros((4, 8, 8)))
    with pytest.raises(ValueError, match="patch_whitening"):
        models.small_cnn((4, 8), whitening=np.zeros((2, 2, 24)))
