"""The SimCLR augmentations against facts checked independently of their code.

Distributions are checked with tolerances of about 4 standard deviations (or a KS bound at the
0.1% level), so a correct implementation fails with negligible probability; every seed is fixed,
so a run is reproducible anyway.
"""

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from clr_lib.augment import (
    VARIANTS,
    ColorJitter,
    GaussianBlur,
    PerImageLayer,
    PixelScaleWarning,
    RandomApply,
    RandomResizedCrop,
    SaturationJitter,
    SimCLRAugment,
    Solarize,
    blur_kernel_size,
    simclr_augment,
    simclr_variant,
    two_views,
)

SEED = tf.constant([3, 14])


def random_images(n, h=16, w=16, seed=0, dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3)).astype(dtype)


def ks_uniform(samples, low, high):
    """Kolmogorov-Smirnov distance between samples and U(low, high)."""
    u = np.sort((np.asarray(samples) - low) / (high - low))
    n = len(u)
    return max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n))


def box_area_and_aspect(boxes, height, width):
    y1, x1, y2, x2 = np.asarray(boxes).T
    return (y2 - y1) * (x2 - x1), ((x2 - x1) * width) / ((y2 - y1) * height)


# --- RandomResizedCrop ----------------------------------------------------------------------


@pytest.mark.parametrize("height,width", [(32, 32), (20, 60), (60, 20)])
def test_crop_boxes_stay_in_the_image_and_within_scale_and_ratio(height, width):
    crop = RandomResizedCrop(scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
    boxes = crop.sample_boxes(4000, height, width, SEED).numpy()
    area, aspect = box_area_and_aspect(boxes, height, width)
    eps = 1e-5
    assert boxes.min() >= -eps and boxes.max() <= 1 + eps
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    assert area.min() >= 0.08 - eps and area.max() <= 1 + eps
    assert aspect.min() >= 3 / 4 - eps and aspect.max() <= 4 / 3 + eps


def test_crop_area_is_uniform_and_aspect_log_uniform_when_every_box_fits():
    # With area <= 0.5 and aspect in [3/4, 4/3] every box fits in a square image, so nothing is
    # rejected and the draws must follow the documented distributions exactly.
    n, scale, ratio = 4000, (0.08, 0.5), (3 / 4, 4 / 3)
    boxes = RandomResizedCrop(scale=scale, ratio=ratio).sample_boxes(n, 32, 32, SEED)
    area, aspect = box_area_and_aspect(boxes.numpy(), 32, 32)
    uniform_sd = (scale[1] - scale[0]) / math.sqrt(12)
    assert abs(area.mean() - sum(scale) / 2) < 4 * uniform_sd / math.sqrt(n)
    ks_bound = 1.95 / math.sqrt(n)  # KS critical value at the 0.1% level
    assert ks_uniform(area, *scale) < ks_bound
    assert ks_uniform(np.log(aspect), math.log(ratio[0]), math.log(ratio[1])) < ks_bound
    # Positions: the box's free room is split uniformly, so its centre is spread across it.
    y1, x1, y2, x2 = boxes.numpy().T
    assert ks_uniform(x1 / (1 - (x2 - x1)), 0, 1) < ks_bound


def test_crop_falls_back_to_the_largest_centred_box_with_a_valid_aspect():
    # Area 1 with an aspect ratio != 1 never fits, so every box is the fallback.
    square = RandomResizedCrop(scale=(1.0, 1.0)).sample_boxes(50, 32, 32, SEED).numpy()
    np.testing.assert_allclose(square, np.tile([0, 0, 1, 1], (50, 1)), atol=1e-6)
    wide = RandomResizedCrop(scale=(1.0, 1.0)).sample_boxes(50, 20, 60, SEED).numpy()
    w = (4 / 3) / 3  # aspect clipped to 4/3 in an image of aspect 3
    np.testing.assert_allclose(wide, np.tile([0, (1 - w) / 2, 1, (1 + w) / 2], (50, 1)), atol=1e-6)


def test_crop_cuts_out_the_sampled_box():
    # Pixel value = column index, so the first and last output columns reveal x1 and x2.
    n, h, w = 64, 16, 24
    columns = np.broadcast_to(np.arange(w, dtype=np.float32)[None, None, :, None], (n, h, w, 3))
    crop = RandomResizedCrop(scale=(0.2, 0.6))
    out = crop(columns, seed=SEED).numpy()
    boxes = crop.sample_boxes(n, h, w, SEED).numpy()
    np.testing.assert_allclose(out[:, 0, 0, 0], boxes[:, 1] * (w - 1), atol=1e-3)
    np.testing.assert_allclose(out[:, 0, -1, 0], boxes[:, 3] * (w - 1), atol=1e-3)


def test_crop_output_shape_and_types():
    images = random_images(5, 20, 30)
    assert RandomResizedCrop()(images).shape == (5, 20, 30, 3)
    assert RandomResizedCrop(size=12)(images).shape == (5, 12, 12, 3)
    assert RandomResizedCrop(size=(8, 10))(images[0]).shape == (8, 10, 3)
    out = RandomResizedCrop()(images.astype(np.float32))
    assert out.dtype == tf.float32
    # Inference: the whole image, resized; at the same size that is the identity.
    np.testing.assert_array_equal(RandomResizedCrop()(images, training=False).numpy(), images)


# --- RandomApply ----------------------------------------------------------------------------

ADD_10 = keras.layers.Rescaling(1.0, offset=10.0)  # a detectable, serialisable effect


class AddNoise(PerImageLayer):
    """Adds a random offset in [10, 20) per image, and records the batch sizes it transforms."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batch_sizes = []

    def draw(self, batch_size, seed):
        return tf.random.stateless_uniform([batch_size], seed, 10.0, 20.0)

    def transform(self, images, offsets):
        self.batch_sizes.append(int(images.shape[0]))  # eager calls: the concrete size
        return images + offsets[:, None, None, None]


@pytest.mark.parametrize("layer", [ADD_10, AddNoise()], ids=["keras layer", "per-image layer"])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.8, 1.0])
def test_random_apply_fires_per_image_with_probability_p(p, layer):
    n = 4000
    images = random_images(n, 2, 2, dtype=np.float32)
    out = RandomApply(layer, p)(images, seed=SEED).numpy()
    diff = out - images
    fired = np.all((diff >= 10.0) & (diff < 20.0), axis=(1, 2, 3))  # ADD_10 adds 10, AddNoise 10 to 20
    kept = np.all(diff == 0.0, axis=(1, 2, 3))
    assert np.all(fired | kept), "each image must be either untouched or fully transformed"
    if p in (0.0, 1.0):
        assert fired.mean() == p
    else:
        assert abs(fired.sum() - n * p) < 4 * math.sqrt(n * p * (1 - p))


def test_random_apply_passes_its_seed_to_a_keras_augmentation_layer():
    images = random_images(64, 8, 8)
    apply = RandomApply(keras.layers.RandomFlip("horizontal"), 1.0)
    first, again = apply(images, seed=SEED), apply(images, seed=SEED)
    np.testing.assert_array_equal(first, again)
    flipped = np.all(first.numpy() == images[:, :, ::-1], axis=(1, 2, 3))
    assert 0 < flipped.sum() < 64  # per-image flips, not one decision for the batch


def test_random_apply_transforms_only_the_chosen_images():
    layer = AddNoise()
    images = random_images(1000, 2, 2, dtype=np.float32)
    out = RandomApply(layer, 0.25)(images, seed=SEED).numpy()
    changed = np.any(out != images, axis=(1, 2, 3))
    assert layer.batch_sizes == [changed.sum()] and 0 < changed.sum() < 400


@pytest.mark.parametrize(
    "make, p",
    [
        (lambda: ColorJitter(0.8, 0.8, 0.8, 0.2), 0.8),
        (lambda: ColorJitter(0.32, 0.32, 0.32, 0.08), 0.8),
        (lambda: GaussianBlur(3), 0.5),
        (lambda: GaussianBlur(5, sigma=(0.5, 3.0)), 0.5),
        (AddNoise, 0.3),
    ],
    ids=["jitter 0.8", "jitter 0.32", "blur 3", "blur 5", "noise"],
)
def test_random_apply_of_a_per_image_layer_equals_blending_its_output_on_the_whole_batch(make, p):
    # Same seed, same mask, same per-image parameters: only where the layer runs differs.
    images = random_images(300, 12, 10, dtype=np.float32)
    gathered = RandomApply(make(), p)(images, seed=SEED).numpy()
    blended = RandomApply(make(), p, gather=False)(images, seed=SEED).numpy()
    np.testing.assert_allclose(gathered, blended, rtol=0, atol=1e-4)  # bitwise equal here; 1e-4 for other CPUs
    changed = np.any(np.abs(gathered - images) > 1e-3, axis=(1, 2, 3))
    assert 0 < changed.sum() < 300


# --- ColorJitter: the documented mapping onto Keras's factors --------------------------------


def flat_images(n, value):
    return np.full((n, 4, 4, 3), value, np.float32)


def test_brightness_is_additive_within_plus_minus_b_times_255():
    b, images = 0.2, flat_images(500, 128.0)
    delta = ColorJitter(b, 0, 0, 0)(images, seed=SEED).numpy() - images
    assert np.allclose(delta, delta[:, :1, :1, :1], atol=1e-3)  # one shift per image
    assert delta.min() >= -b * 255 - 1e-3 and delta.max() <= b * 255 + 1e-3
    assert delta.min() < -0.8 * b * 255 and delta.max() > 0.8 * b * 255


def test_contrast_factor_spans_1_minus_c_to_1_plus_c():
    c, n = 0.8, 500
    rng = np.random.default_rng(1)
    images = rng.uniform(120, 136, (n, 8, 8, 3)).astype(np.float32)  # no clipping at 1.8
    out = ColorJitter(0, c, 0, 0)(images, seed=SEED).numpy()
    factor = out.std(axis=(1, 2)) / images.std(axis=(1, 2))
    assert factor.min() >= 1 - c - 1e-3 and factor.max() <= 1 + c + 1e-3
    assert factor.min() < 1 - 0.8 * c and factor.max() > 1 + 0.8 * c  # both ways, not only up


# Fully saturated colours and near-pure reds: where Keras's RandomSaturation left 0..255.
SATURATED = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255],
     [255, 10, 0], [250, 5, 5], [240, 0, 20], [255, 30, 30], [200, 0, 0], [0, 0, 0], [255, 255, 255]],
    np.float32,
)
LUMA = np.array([0.2989, 0.587, 0.114])  # torchvision's rgb_to_grayscale weights


def saturated_images(n):
    """(n, 4, 4, 3) images whose 16 pixels are random picks from SATURATED."""
    picks = np.random.default_rng(4).integers(0, len(SATURATED), (n, 4, 4))
    return SATURATED[picks]


def test_saturation_is_a_blend_towards_gray_and_stays_in_0_255():
    s, n = 0.8, 400
    images = saturated_images(n)
    layer = SaturationJitter(s)
    out = layer(images, seed=SEED).numpy()
    f = layer.draw(n, SEED).numpy().astype(np.float64)[:, None, None, None]
    gray = (images.astype(np.float64) @ LUMA)[..., None]
    blend = gray + f * (images - gray)
    np.testing.assert_allclose(out, np.clip(blend, 0, 255), rtol=0, atol=1e-3)
    assert blend.min() < -50 and blend.max() > 300  # factors above 1 push saturated colours out: clipped
    jittered = ColorJitter(0, 0, s, 0)(images, seed=SEED).numpy()  # the case
    assert jittered.min() >= 0 and jittered.max() <= 255


@pytest.mark.parametrize("s", [0.32, 0.8, 1.0])
def test_saturation_factor_is_uniform_in_1_minus_s_to_1_plus_s(s):
    # Mild colours never clip, so each image's factor is (out - gray) / (x - gray) exactly.
    n = 4000
    colour = np.array([150.0, 120.0, 100.0])
    images = np.broadcast_to(colour.astype(np.float32), (n, 2, 2, 3))
    out = ColorJitter(0, 0, s, 0)(images, seed=SEED).numpy().astype(np.float64)
    gray = colour @ LUMA
    factors = (out - gray) / (colour - gray)
    assert np.allclose(factors, factors[:, :1, :1, :1], atol=1e-4)  # one factor per image, every channel
    f = factors[:, 0, 0, 0]
    low, high = max(0.0, 1 - s), 1 + s
    assert f.min() >= low - 1e-4 and f.max() <= high + 1e-4
    assert f.min() < low + 0.01 * (high - low) and f.max() > high - 0.01 * (high - low)
    assert abs(f.mean() - (low + high) / 2) < 4 * (high - low) / math.sqrt(12 * n)
    assert ks_uniform(f, low, high) < 1.95 / math.sqrt(n)  # KS critical value at the 0.1% level


@pytest.mark.parametrize(
    "strengths",
    [(1.0, 0, 0, 0), (0, 1.0, 0, 0), (0, 0, 1.0, 0), (0, 0, 0, 0.5), (1.0, 1.0, 1.0, 0.5), (0.8, 0.8, 0.8, 0.2)],
    ids=["brightness", "contrast", "saturation", "hue", "all, strongest", "all, SimCLR"],
)
def test_every_colour_jitter_part_keeps_pixels_in_0_255(strengths):
    # Keras's RandomBrightness and RandomContrast clip to their value_range (0, 255), RandomHue
    # clips after its HSV round trip; SaturationJitter clips its blend.
    images = np.concatenate([saturated_images(500), random_images(500, 4, 4, dtype=np.float32)])
    out = ColorJitter(*strengths)(images, seed=SEED).numpy()
    assert out.min() >= 0 and out.max() <= 255
    assert np.abs(out - images).max() > 50  # the strong jitter did something


def test_hue_shift_is_within_plus_minus_h_turns():
    h, n = 0.2, 500
    images = np.tile(np.array([200.0, 60.0, 60.0], np.float32), (n, 4, 4, 1))  # hue 0 (red)
    out = ColorJitter(0, 0, 0, h)(images, seed=SEED).numpy()
    hue = tf.image.rgb_to_hsv(out / 255)[:, 0, 0, 0].numpy()
    shift = (hue + 0.5) % 1.0 - 0.5  # circular difference to hue 0
    assert np.abs(shift).max() <= h + 1e-3
    assert shift.min() < -0.8 * h and shift.max() > 0.8 * h


def test_solarize_inverts_pixels_at_or_above_the_threshold():
    x = np.array([0, 100, 127, 128, 200, 255], np.float32).reshape(1, 1, 6, 1)
    np.testing.assert_array_equal(Solarize()(x).numpy().ravel(), [0, 100, 127, 127, 55, 0])


# --- The SimCLR pipeline --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_pipeline_returns_float32_in_0_255_for_uint8_and_float32(dtype):
    images = random_images(32, dtype=dtype)
    aug = simclr_augment(strength=1.25, blur=True, image_size=16, solarize_p=0.5, seed=0)
    out = aug(images).numpy()
    assert out.dtype == np.float32 and out.shape == images.shape
    assert out.min() >= 0 and out.max() <= 255
    assert aug(images[0]).shape == images[0].shape
    assert simclr_augment(image_size=8)(images).shape == (32, 8, 8, 3)


def test_identical_images_in_a_batch_get_different_augmentations():
    batch = np.repeat(random_images(1), 16, axis=0)
    out = simclr_augment(seed=0)(batch).numpy().reshape(16, -1)
    distances = np.abs(out[:, None] - out[None]).max(axis=-1)
    assert np.all(distances[~np.eye(16, dtype=bool)] > 1.0)


def test_grayscale_happens_to_a_fifth_of_the_images():
    # Colour input stays colour unless grayscaled; grayscale makes the channels exactly equal.
    n = 2000
    out = simclr_augment(seed=0)(random_images(n, 6, 6), seed=SEED).numpy()
    gray = np.all(out[..., 0] == out[..., 1], axis=(1, 2)) & np.all(
        out[..., 1] == out[..., 2], axis=(1, 2)
    )
    assert abs(gray.sum() - 0.2 * n) < 4 * math.sqrt(n * 0.2 * 0.8)


def test_strength_0_and_full_crop_only_flip_or_grayscale():
    images = random_images(64, 8, 8, dtype=np.float32)
    out = simclr_augment(strength=0.0, crop_scale=(1.0, 1.0), seed=0)(images).numpy()
    flipped = images[:, :, ::-1]
    luma = np.array([[0.2989], [0.5870], [0.1140]], np.float32)  # Keras's grayscale weights
    gray, gray_flipped = np.repeat(images @ luma, 3, -1), np.repeat(flipped @ luma, 3, -1)
    candidates = np.stack([images, flipped, gray, gray_flipped])
    error = np.abs(out[None] - candidates).max(axis=(2, 3, 4))  # (4 candidates, 64 images)
    assert np.all(error.min(axis=0) < 1e-2)
    assert 0 < np.sum(error[1] < 1e-2) < 64  # some flipped, some not


def test_blur_kernel_is_an_odd_tenth_of_the_side():
    assert [blur_kernel_size(s) for s in (32, 96, 224)] == [3, 9, 23]


def numpy_gaussian_blur(image, sigma, kernel_size):
    """torchvision's GaussianBlur of one (H, W, 3) image, in NumPy: reflect padding, separable."""
    r = kernel_size // 2
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    out = image.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="reflect")  # torch's "reflect": pixel -1 is pixel 1
        n = out.shape[axis]
        out = sum(kernel[j] * np.take(padded, np.arange(j, j + n), axis=axis) for j in range(kernel_size))
    return out


@pytest.mark.parametrize("kernel_size, height, width", [(3, 12, 10), (5, 9, 16), (9, 24, 24)])
def test_blur_is_a_gaussian_filter_with_reflect_padding_and_each_images_sigma(kernel_size, height, width):
    n = 6
    images = random_images(n, height, width, dtype=np.float32)
    layer = GaussianBlur(kernel_size)
    out = layer(images, seed=SEED).numpy()
    sigmas = layer.draw(n, SEED).numpy()
    for image, blurred, sigma in zip(images, out, sigmas):
        np.testing.assert_allclose(blurred, numpy_gaussian_blur(image, sigma, kernel_size), rtol=0, atol=1e-3)
    try:
        from scipy.ndimage import gaussian_filter
    except ImportError:
        return
    # An independent implementation: SciPy's mode="mirror" is torch's "reflect" (SciPy's "reflect"
    # repeats the edge pixel), and radius= cuts the kernel at kernel_size.
    reference = gaussian_filter(
        images[0].astype(np.float64), sigmas[0], mode="mirror", radius=kernel_size // 2, axes=(0, 1)
    )
    np.testing.assert_allclose(out[0], reference, rtol=0, atol=1e-3)


def test_blur_sigma_is_isotropic_uniform_and_drawn_per_image():
    # The response to a single bright pixel is kernel[i] * kernel[j], so the ratio of a
    # neighbor to the centre is exp(-1 / (2 sigma^2)), along either axis.
    n, sigma = 3000, (0.1, 2.0)
    impulses = np.zeros((n, 5, 5, 3), np.float32)
    impulses[:, 2, 2] = 255.0
    out = GaussianBlur(3, sigma)(impulses, seed=SEED).numpy().astype(np.float64)[..., 0]
    centre, below, right = out[:, 2, 2], out[:, 3, 2], out[:, 2, 3]
    np.testing.assert_allclose(below, right, rtol=1e-4)  # isotropic: one sigma for both axes
    sigmas = np.sqrt(-1.0 / (2.0 * np.log(right / centre)))
    assert sigmas.min() >= sigma[0] - 1e-3 and sigmas.max() <= sigma[1] + 1e-3
    assert abs(sigmas.mean() - sum(sigma) / 2) < 4 * (sigma[1] - sigma[0]) / math.sqrt(12 * n)
    assert ks_uniform(sigmas, *sigma) < 1.95 / math.sqrt(n)  # so they differ from image to image
    np.testing.assert_allclose(sigmas, GaussianBlur(3, sigma).draw(n, SEED).numpy(), rtol=1e-3)


def test_simclr_blur_is_applied_to_half_the_images():
    aug = simclr_augment(blur=True, image_size=32)
    (stage,) = [s for s in aug.stages if isinstance(s, RandomApply) and isinstance(s.layer, GaussianBlur)]
    assert (stage.p, stage.layer.kernel_size, stage.layer.sigma) == (0.5, blur_kernel_size(32), (0.1, 2.0))
    # A checkerboard of 0 and 255: any blur, even sigma = 0.1, lifts the 0 pixels above 0.
    n = 2000
    board = 255.0 * (np.indices((6, 6)).sum(0) % 2)
    images = np.broadcast_to(board[None, :, :, None], (n, 6, 6, 3)).astype(np.float32)
    changed = np.any(stage(images, seed=SEED).numpy() != images, axis=(1, 2, 3))
    assert abs(changed.sum() - 0.5 * n) < 4 * math.sqrt(n * 0.25)


def test_eager_calls_draw_fresh_randomness_and_constructor_seeds_repeat():
    images = random_images(8)
    aug = simclr_augment(seed=5)
    first, second = aug(images).numpy(), aug(images).numpy()
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, simclr_augment(seed=5)(images).numpy())
    np.testing.assert_array_equal(aug(images, seed=SEED), aug(images, seed=SEED))


@pytest.mark.parametrize("batch", [1, 7, 40])
def test_pipeline_in_a_tf_function_with_an_unknown_batch_size_matches_eager(batch):
    aug = simclr_augment(strength=1.0, blur=True, image_size=16, solarize_p=0.2, seed=0)
    graph = tf.function(
        lambda x, seed: aug(x, seed=seed),
        input_signature=[tf.TensorSpec((None, 16, 16, 3), tf.uint8), tf.TensorSpec((2,), tf.int32)],
    )
    images = random_images(batch)
    np.testing.assert_allclose(graph(images, SEED).numpy(), aug(images, seed=SEED).numpy(), rtol=0, atol=1e-3)


def test_pipeline_inside_a_keras_model():
    images = random_images(4)
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, simclr_augment(seed=0)(inputs))
    assert not np.array_equal(model(images, training=True), model(images, training=True))
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)  # inference: identity


# --- Switching parts off: crop=False, color=False and the named variants ---------------------


def two_tone_images(n, side=16, seed=0):
    """Top half one random colour, bottom half another: a horizontal flip leaves them unchanged."""
    colours = np.random.default_rng(seed).uniform(20, 235, (n, 2, 1, 1, 3)).astype(np.float32)
    return np.concatenate([np.broadcast_to(c, (n, side // 2, side, 3)) for c in (colours[:, 0], colours[:, 1])], 1)


def halves_stay_flat(out, side=16):
    """Per image: is every pixel of the top half equal, and every pixel of the bottom half?"""
    top, bottom = out[:, : side // 2], out[:, side // 2 :]
    return (np.ptp(top, axis=(1, 2)).max(-1) < 1e-3) & (np.ptp(bottom, axis=(1, 2)).max(-1) < 1e-3)


def test_crop_off_keeps_the_geometry_even_with_colour_on():
    # The colour transforms map each pixel's colour with one per-image function, so equal pixels stay
    # equal and the top/bottom boundary stays where it was. A crop moves (and blurs) that boundary.
    images = two_tone_images(200)
    out = simclr_augment(strength=1.0, crop=False, seed=0)(images, seed=SEED).numpy()
    assert np.all(halves_stay_flat(out))
    assert np.abs(out - images).max(axis=(1, 2, 3)).mean() > 1.0  # the colours did change
    cropped = simclr_augment(strength=1.0, crop_scale=(0.2, 1.0), seed=0)(images, seed=SEED).numpy()
    assert halves_stay_flat(cropped).mean() < 0.2


def test_crop_and_colour_off_leave_only_the_flip_and_the_resize():
    images = random_images(64, 16, 16, dtype=np.float32)
    out = simclr_augment(crop=False, color=False, seed=0)(images, seed=SEED).numpy()
    same = np.all(np.abs(out - images) < 1e-3, axis=(1, 2, 3))
    mirrored = np.all(np.abs(out - images[:, :, ::-1]) < 1e-3, axis=(1, 2, 3))
    assert np.all(same | mirrored) and 0 < mirrored.sum() < 64
    # With image_size, the whole image is resized: exactly the crop layer's inference path.
    small = simclr_augment(crop=False, color=False, image_size=8, seed=0)(images, seed=SEED).numpy()
    resized = RandomResizedCrop(size=8)(images, training=False).numpy()
    error = np.minimum(np.abs(small - resized).max(axis=(1, 2, 3)), np.abs(small - resized[:, :, ::-1]).max(axis=(1, 2, 3)))
    assert error.max() < 1e-3


def test_colour_off_keeps_every_pixel_colour():
    # A crop only interpolates between neighboring pixels: a one-colour image stays that colour,
    # and a two-colour image only gets mixtures of its two colours (points on the segment A-B).
    n = 300
    flat = np.random.default_rng(1).uniform(0, 255, (n, 1, 1, 3)).astype(np.float32) * np.ones((1, 16, 16, 1))
    out = simclr_augment(strength=1.0, color=False, seed=0)(flat, seed=SEED).numpy()
    np.testing.assert_allclose(out, flat, atol=1e-3)
    coloured = simclr_augment(strength=1.0, seed=0)(flat, seed=SEED).numpy()
    changed = np.abs(coloured - flat).max(axis=(1, 2, 3)) > 1.0
    assert changed.mean() > 0.6  # 1 - P(no jitter, no grayscale) = 1 - 0.2 * 0.8 = 0.84

    images = two_tone_images(n, seed=2)
    a, b = images[:, :1, :1], images[:, -1:, :1]  # (n, 1, 1, 3): the two colours of each image
    out = simclr_augment(strength=1.0, crop_scale=(0.08, 1.0), color=False, seed=0)(images, seed=SEED).numpy()
    t = np.clip(np.sum((out - a) * (b - a), -1, keepdims=True) / np.sum((b - a) ** 2, -1, keepdims=True), 0, 1)
    distance_to_segment = np.linalg.norm(out - (a + t * (b - a)), axis=-1)
    assert distance_to_segment.max() < 1e-2


def test_variants_switch_the_documented_parts():
    assert list(VARIANTS) == ["flip", "crop", "color", "crop+color", "all"]
    for name, parts in VARIANTS.items():
        config = simclr_variant(name, image_size=16).get_config()
        assert (config["crop"], config["color"], config["blur"]) == (parts["crop"], parts["color"], parts["blur"])
        assert config["solarize_p"] == 0.0
    assert [name for name, parts in VARIANTS.items() if parts["crop"] and parts["color"]] == ["crop+color", "all"]


def test_crop_plus_colour_variant_is_the_default_pipeline_exactly():
    images = random_images(32)
    variant = simclr_variant("crop+color", strength=0.5, crop_scale=(0.2, 1.0), seed=3)
    default = simclr_augment(strength=0.5, crop_scale=(0.2, 1.0), seed=3)
    np.testing.assert_array_equal(variant(images, seed=SEED), default(images, seed=SEED))
    np.testing.assert_array_equal(variant(images), default(images))  # same constructor seed, same stream


def test_colour_and_crop_variants_behave_as_their_names_say():
    images = two_tone_images(200)
    colour_only = simclr_variant("color", strength=1.0)(images, seed=SEED).numpy()
    assert np.all(halves_stay_flat(colour_only))
    flat = np.full((50, 16, 16, 3), [200.0, 40.0, 90.0], np.float32)
    np.testing.assert_allclose(simclr_variant("crop")(flat, seed=SEED).numpy(), flat, atol=1e-3)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: simclr_variant("colour"), "Unknown augmentation variant 'colour'; choose one of"),
        (lambda: simclr_variant("all"), "includes blur.*pass image_size"),
    ],
)
def test_bad_variants_raise_a_helpful_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# --- two_views and seeding in tf.data -------------------------------------------------------


def collect(ds):
    return [np.stack([a.numpy(), b.numpy()]) for a, b in ds]


def batched_dataset(n=24, batch=8):
    return tf.data.Dataset.from_tensor_slices(random_images(n)).batch(batch)


def test_two_views_differ_and_have_the_input_shape():
    ((a, b),) = two_views(batched_dataset(8), simclr_augment(), seed=0).take(1)
    assert a.shape == b.shape == (8, 16, 16, 3) and a.dtype == tf.float32
    assert np.all(np.abs(a.numpy() - b.numpy()).max(axis=(1, 2, 3)) > 1.0)


@pytest.mark.parametrize("blur", [False, True])
def test_fixed_seed_repeats_exactly_and_other_seeds_differ(blur):
    # With blur, RandomApply gathers a different number of images per batch: shapes vary in tf.data.
    runs = [collect(two_views(batched_dataset(), simclr_augment(blur=blur, image_size=16), seed=s)) for s in (7, 7, 8)]
    for x, y in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(x, y)
    assert all(not np.array_equal(x, z) for x, z in zip(runs[0], runs[2]))


def test_seed_falls_back_to_the_layer_seed_and_each_epoch_is_new():
    first = two_views(batched_dataset(), simclr_augment(seed=3))
    second = two_views(batched_dataset(), simclr_augment(seed=3))
    epoch_1, epoch_2 = collect(first), collect(first)
    for x, y in zip(epoch_1, collect(second)):
        np.testing.assert_array_equal(x, y)
    assert all(not np.array_equal(x, y) for x, y in zip(epoch_1, epoch_2))


def test_two_views_of_single_images_and_of_image_label_pairs():
    images = random_images(6)
    pairs = tf.data.Dataset.from_tensor_slices((images, np.arange(6)))
    singles = two_views(pairs.map(lambda x, y: x), simclr_augment(), seed=1)
    labelled = two_views(pairs, simclr_augment(), seed=1)
    for (a, b), (c, d) in zip(singles, labelled):
        assert a.shape == (16, 16, 3)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_multi_crop_adds_small_views_and_leaves_the_pair_as_it_was():
    images = random_images(24)
    small = simclr_augment(crop_scale=(0.1, 0.4), image_size=8)

    def multi_crop():
        batches = tf.data.Dataset.from_tensor_slices(images).batch(8)
        return [[v.numpy() for v in views] for views in
                two_views(batches, simclr_augment(), seed=4, small_augment=small, num_small=3)]

    plain = two_views(tf.data.Dataset.from_tensor_slices(images).batch(8), simclr_augment(), seed=4)
    first = multi_crop()
    for views, (a, b) in zip(first, plain):
        assert [v.shape for v in views] == [(8, 16, 16, 3)] * 2 + [(8, 8, 8, 3)] * 3
        np.testing.assert_array_equal(views[0], a)  # the small views draw from a seed stream of their own
        np.testing.assert_array_equal(views[1], b)
        assert np.all(np.abs(views[2] - views[3]).max(axis=(1, 2, 3)) > 1.0)
    for views, again in zip(first, multi_crop()):  # a fixed seed repeats the small views too
        for x, y in zip(views, again):
            np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="num_small=2 small views need small_augment"):
        two_views(batched_dataset(), simclr_augment(), num_small=2)


# --- Bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RandomResizedCrop(scale=(0.0, 1.0)), "scale must be"),
        (lambda: RandomResizedCrop(scale=(0.5, 0.2)), "scale must be"),
        (lambda: RandomResizedCrop(scale=(0.1, 1.5)), "scale must be"),
        (lambda: RandomResizedCrop(ratio=(2.0, 1.0)), "ratio must be"),
        (lambda: RandomResizedCrop(size=0), "size must be"),
        (lambda: RandomApply(ADD_10, 1.5), r"p is a probability and must be in \[0, 1\]"),
        (lambda: RandomApply(ADD_10, -0.1), "p is a probability"),
        (lambda: RandomApply(lambda x: x, 0.5), "layer must be a keras.layers.Layer"),
        (lambda: ColorJitter(hue=0.6), r"hue must be in \[0, 0.5\]"),
        (lambda: SaturationJitter(1.5), r"saturation must be in \[0, 1\]"),
        (lambda: GaussianBlur(4), "kernel_size must be a positive odd int"),
        (lambda: GaussianBlur(3.0), "kernel_size must be a positive odd int"),
        (lambda: GaussianBlur(3, sigma=(0.0, 1.0)), "sigma must be"),
        (lambda: GaussianBlur(3, sigma=(2.0, 1.0)), "sigma must be"),
        (lambda: simclr_augment(strength=-1.0), "strength must be"),
        (lambda: simclr_augment(strength=2.0), "strength must be"),
        (lambda: simclr_augment(solarize_p=2.0), "solarize_p is a probability"),
        (lambda: simclr_augment(crop_scale=(0.5, 2.0)), "scale must be"),
        (lambda: simclr_augment(image_size=0), "image_size must be"),
        (lambda: simclr_augment(blur=True), "blur=True needs image_size"),
        (lambda: Solarize(threshold=300), "threshold must be"),
    ],
)
def test_bad_arguments_raise_a_helpful_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("shape", [(16, 16), (2, 2, 16, 16, 3), (4, 16, 16, 1)])
def test_images_of_the_wrong_shape_raise(shape):
    with pytest.raises(ValueError, match="images must"):
        simclr_augment()(np.zeros(shape, np.float32))


def test_blur_of_images_too_small_for_its_kernel_raises():
    with pytest.raises(ValueError, match=r"GaussianBlur\(5\) reflects .* sides above 2 pixels"):
        GaussianBlur(5)(np.zeros((1, 2, 8, 3), np.float32))


# --- Pixel scale ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def entry_points():
    """Every place where images arrive as values, each a function of the images."""
    from clr_lib import evaluation, models, pipeline
    from clr_lib.callbacks import KNNMonitor

    encoder = models.small_cnn(widths=(4,), input_shape=(16, 16, 3))
    labels = np.arange(6) % 2
    return {
        "simclr_augment": lambda x: simclr_augment()(x),
        "pretraining_dataset": lambda x: pipeline.pretraining_dataset(x, batch_size=2),
        "labeled_dataset": lambda x: pipeline.labeled_dataset(x, labels, batch_size=2),
        "extract_features": lambda x: evaluation.extract_features(encoder, x),
        "KNNMonitor": lambda x: KNNMonitor(x, labels, x, labels),
    }


@pytest.mark.parametrize(
    "entry", ["simclr_augment", "pretraining_dataset", "labeled_dataset", "extract_features", "KNNMonitor"]
)
def test_float_images_on_the_0_1_scale_warn_where_they_enter(entry_points, entry):
    """0..1 floats pass every shape check but are nearly black on clr_lib's 0..255 scale."""
    images = random_images(6)
    with pytest.warns(PixelScaleWarning, match="multiply by 255") as caught:
        entry_points[entry](images / 255.0)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error", PixelScaleWarning)
        entry_points[entry](images)  # uint8
        entry_points[entry](images.astype(np.float32))  # floats on 0..255
        entry_points[entry](np.zeros((6, 16, 16, 3), np.float32))  # black on either scale


def test_pixel_scale_check_does_not_break_graphs():
    """Inside tf.data the augmentation is traced, not eager: no check, no error."""
    ds = tf.data.Dataset.from_tensor_slices(random_images(4) / 255.0).batch(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PixelScaleWarning)
        view_a, _ = next(iter(two_views(ds, simclr_augment(), seed=0)))
    assert view_a.shape == (2, 16, 16, 3)


# --- Serialisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        RandomResizedCrop(scale=(0.2, 0.9), ratio=(0.5, 2.0), size=(8, 12), seed=4),
        RandomApply(ADD_10, 0.3, seed=2),
        RandomApply(keras.layers.RandomFlip("horizontal"), 0.5),
        ColorJitter(0.4, 0.4, 0.4, 0.1, seed=1),
        SaturationJitter(0.5, seed=2),
        GaussianBlur(5, sigma=(0.5, 1.5), seed=3),
        RandomApply(GaussianBlur(3), 0.5, seed=4),
        SimCLRAugment(0.5, blur=True, crop_scale=(0.2, 1.0), image_size=12, solarize_p=0.1, seed=9),
        SimCLRAugment(0.5, blur=True, image_size=12, seed=9, crop=False, color=False),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_round_trip_through_config_and_keras_serialisation(layer):
    images = random_images(6)
    copies = [
        type(layer).from_config(layer.get_config()),
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer)),
    ]
    for copy in copies:
        assert type(copy) is type(layer)
        np.testing.assert_array_equal(copy(images, seed=SEED), layer(images, seed=SEED))
        assert copy.get_config() == layer.get_config()  # after the calls: both are built


def test_a_model_with_the_pipeline_saves_and_loads(tmp_path):
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, simclr_augment(strength=0.5, image_size=8, seed=1)(inputs))
    model.save(tmp_path / "aug.keras")
    loaded = keras.saving.load_model(tmp_path / "aug.keras")
    assert isinstance(loaded.layers[-1], SimCLRAugment)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()
