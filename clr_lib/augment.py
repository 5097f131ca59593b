"""The SimCLR augmentations as Keras layers, and a ``tf.data`` helper that makes two views.

The family follows Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations", appendix A: random resized crop, horizontal flip, colour jitter (p=0.8),
grayscale (p=0.2), optional Gaussian blur (p=0.5) and, as in BYOL, optional solarization.
Keras's own layers do the flip, the brightness, contrast and hue jitter and the grayscale; this
module adds what Keras lacks, or does differently from SimCLR:

- ``RandomResizedCrop``: torchvision's crop, a whole batch in one ``tf.image.crop_and_resize``.
- ``RandomApply``: apply any layer to each image independently with probability ``p``; a
  ``PerImageLayer`` (a layer that draws its parameters per image) runs only on the chosen images.
- ``ColorJitter``: torchvision-style jitter strengths, on Keras's colour layers and ``SaturationJitter``.
- ``SaturationJitter``: torchvision's saturation jitter, a blend towards the grayscale image
  (Keras's ``RandomSaturation`` leaves the colour range for factors above 1).
- ``GaussianBlur``: torchvision's blur, one isotropic sigma per image and reflect padding (Keras's
  ``RandomGaussianBlur`` draws one anisotropic pair of sigmas per batch and pads with zeros).
- ``Solarize``: BYOL's fixed-threshold solarization.
- ``simclr_augment``: the whole pipeline as one layer; ``two_views``: pairs of views in tf.data.
- ``simclr_variant``: the pipeline with some of its parts switched off, by name ("crop",
  "color", "crop+color", "all", "flip"), for ablations.

Images are NHWC (or a single HWC image), RGB, uint8 or float32 on the 0..255 scale; every layer
returns float32 on the same scale. Each image of a batch gets its own random draws. Float images
scaled to 0..1 instead would come out nearly black: ``check_pixel_scale`` warns about them
(``PixelScaleWarning``) where images arrive as values, in ``simclr_augment``'s layer called
eagerly and in the NumPy entry points (``clr_lib.pipeline``, ``clr_lib.evaluation.extract_features``,
``clr_lib.callbacks.KNNMonitor``); a compiled graph (``tf.data``, ``fit``) cannot warn per call.

Seeding: each layer's ``call`` takes an optional ``seed``, a stateless seed (int tensor of shape
``(2,)``, as for ``tf.random.stateless_uniform``); the same seed gives the same output. Without
one, the layer draws a fresh seed from its own ``keras.random.SeedGenerator`` (built from the
``seed`` given to its constructor), which is what happens when you call it eagerly or inside a
model. ``two_views`` passes every dataset element its own stateless seed, so the views repeat
exactly under a fixed seed even with parallel ``map`` calls.
"""

from __future__ import annotations

import inspect
import math
import sys
import warnings

import keras
import numpy as np
import tensorflow as tf

from clr_lib.checks import is_positive_int


class PixelScaleWarning(UserWarning):
    """Float images whose brightest pixel is at most 1: probably scaled to 0..1, not clr_lib's 0..255."""


def _outside_libraries() -> int:
    """The ``warnings.warn`` stacklevel of the innermost frame outside clr_lib, Keras and TensorFlow."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in ("clr_lib", "keras", "tensorflow"):
        level, frame = level + 1, frame.f_back
    return level


def check_pixel_scale(images) -> None:
    """Warn with ``PixelScaleWarning`` if ``images`` are floats whose largest value is in (0, 1].

    clr_lib's layers and encoders expect pixels on the 0..255 scale (uint8 or float); 0..1 floats
    pass every shape check but come out nearly black. ``images``: an array or eager tensor, read
    once (a max over the values; uint8 images are not read). An all-zero batch looks the same on
    both scales and passes. The warning points at the first line outside clr_lib, Keras and
    TensorFlow: the user's call.
    """
    values = np.asarray(images)
    if not np.issubdtype(values.dtype, np.floating) or values.size == 0:
        return
    brightest = float(values.max())
    if 0.0 < brightest <= 1.0:
        warnings.warn(
            f"images are floats with a largest value of {brightest:.3g}: they look scaled to 0..1, but "
            "clr_lib expects pixels on the 0..255 scale and would see them nearly black. Pass the uint8 "
            "images, or multiply by 255.",
            PixelScaleWarning,
            stacklevel=_outside_libraries(),
        )


def _to_batch(images) -> tuple[tf.Tensor, bool]:
    """``images`` as a float32 NHWC batch, and whether it already was a batch."""
    images = tf.convert_to_tensor(images)
    if images.shape.rank not in (3, 4):
        raise ValueError(
            f"images must have rank 3 (H, W, 3) or 4 (N, H, W, 3), got shape {images.shape}: "
            "add or remove the batch axis."
        )
    if images.shape[-1] not in (3, None):
        raise ValueError(
            f"images must be RGB with channels last (..., H, W, 3), got shape {images.shape}."
        )
    batched = images.shape.rank == 4
    images = tf.cast(images, tf.float32)
    return (images if batched else images[None]), batched


def _check_probability(p: float, name: str = "p") -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} is a probability and must be in [0, 1], got {p!r}.")
    return float(p)


class _SeedStream(keras.random.SeedGenerator):
    """Feeds a Keras augmentation layer from a stateless seed tensor.

    Keras random ops take an int or a ``SeedGenerator`` as seed, not a tensor
    (``keras/src/random/seed_generator.py``, ``draw_seed``). This stand-in skips the parent's
    ``__init__`` so it holds no state variable (it is created inside ``tf.data`` functions); its
    n-th draw is ``fold_in(seed, n)``, so a layer that draws several numbers gets independent ones
    that depend only on ``seed``. A layer given an int seed instead would reuse it for every draw.
    """

    def __init__(self, seed: tf.Tensor):
        self._seed = seed
        self._draws = 0

    def next(self, ordered: bool = True) -> tf.Tensor:
        self._draws += 1
        return tf.random.experimental.stateless_fold_in(self._seed, self._draws)


def _apply(layer, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Run ``layer`` (or any callable) on a float batch, taking its randomness from ``seed``."""
    if hasattr(layer, "get_random_transformation"):  # a Keras augmentation layer
        transformation = layer.get_random_transformation(
            images, training=True, seed=_SeedStream(seed)
        )
        return layer.transform_images(images, transformation, training=True)
    if "seed" in inspect.signature(getattr(layer, "call", layer)).parameters:  # clr_lib layers
        return layer(images, seed=seed)
    return layer(images)  # no seed to pass: its randomness (if any) is its own


class PerImageLayer(keras.layers.Layer):
    """Base of clr_lib's random layers that draw a few numbers per image, then transform with them.

    A subclass defines ``draw(batch_size, seed)``, the per-image parameters (a tensor, or a list or
    dict of tensors, whose first axis is the image), and ``transform(images, parameters)``, which
    must treat each image on its own. ``call(images, seed=...)`` is
    ``transform(images, draw(N, seed))``. ``RandomApply`` uses the split to transform only the
    images it applies the layer to, with the parameters they get in the whole batch.

    Args:
        seed: int seed of the layer's own generator, used when ``call`` gets no ``seed``.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def draw(self, batch_size, seed: tf.Tensor):
        raise NotImplementedError(f"{type(self).__name__} must define draw(batch_size, seed).")

    def transform(self, images: tf.Tensor, parameters) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define transform(images, parameters).")

    def call(self, images, training=True, seed=None):
        images, batched = _to_batch(images)
        if training:
            seed = self.seed_generator.next() if seed is None else seed
            images = self.transform(images, self.draw(tf.shape(images)[0], seed))
        return images if batched else images[0]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="clr_lib")
class RandomResizedCrop(keras.layers.Layer):
    """Crop a box of random area and aspect ratio and resize it (torchvision's RandomResizedCrop).

    Per image, the area fraction is uniform in ``scale`` and the aspect ratio (width / height)
    is log-uniform in ``ratio``. As in torchvision, up to 10 boxes are drawn and the first one
    that fits in the image is kept (all 10 are drawn at once, so this is vectorised); if none
    fits, the largest centred box with an aspect ratio within ``ratio`` is used (the whole image
    when it is square). Boxes are continuous, not rounded to pixels, and all crops of a batch are
    resized (bilinear) by one ``tf.image.crop_and_resize``. With ``training=False`` the whole
    image is resized.

    Args:
        scale: (min, max) area fraction of the crop, ``0 < min <= max <= 1``.
        ratio: (min, max) aspect ratio of the crop, ``0 < min <= max``.
        size: output size, an int (square) or (height, width); default: the input size.
        seed: int seed of the layer's own generator, used when ``call`` gets no ``seed``.

    Call: ``images`` (N, H, W, 3) or (H, W, 3), uint8 or float32 on 0..255; optional ``seed``.
    Returns float32 images of the output size.
    """

    TRIES = 10

    def __init__(
        self,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        size: int | tuple[int, int] | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(
                f"scale must be (min, max) with 0 < min <= max <= 1, got {scale!r}: it is the "
                "fraction of the image area kept, e.g. (0.08, 1.0)."
            )
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(
                f"ratio must be (min, max) with 0 < min <= max, got {ratio!r}: it is the "
                "width / height of the crop, e.g. (3/4, 4/3)."
            )
        if isinstance(size, int):
            size = (size, size)
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"size must be a positive int or (height, width), got {size!r}.")
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_jit = False  # XLA has no CropAndResize: models holding this layer skip XLA

    def sample_boxes(self, batch_size, height, width, seed) -> tf.Tensor:
        """Crop boxes for ``batch_size`` images of ``height`` x ``width`` pixels.

        ``seed`` is a stateless seed (int tensor of shape (2,)). Returns a float32
        ``(batch_size, 4)`` tensor of ``(y1, x1, y2, x2)`` in [0, 1] (image fractions), the box
        format of ``tf.image.crop_and_resize``.
        """
        area_seed, ratio_seed, y_seed, x_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 4)
        )
        shape = (batch_size, self.TRIES)
        area = tf.random.stateless_uniform(shape, area_seed, *self.scale)
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        aspect = tf.exp(tf.random.stateless_uniform(shape, ratio_seed, *log_ratio))
        # Box sides as fractions of the image sides: (h * H) * (w * W) = area * H * W and
        # (w * W) / (h * H) = aspect.
        image_aspect = tf.cast(width, tf.float32) / tf.cast(height, tf.float32)
        h = tf.sqrt(area * image_aspect / aspect)
        w = tf.sqrt(area * aspect / image_aspect)
        fits = (h <= 1.0) & (w <= 1.0)
        first = tf.argmax(tf.cast(fits, tf.int32), axis=1)  # first box that fits (0 if none)
        h, w = tf.gather(h, first, batch_dims=1), tf.gather(w, first, batch_dims=1)
        # Fallback: the largest box whose aspect ratio is the image's, clipped into `ratio`.
        fallback_aspect = tf.clip_by_value(image_aspect, *self.ratio)
        fallback_h = tf.minimum(1.0, image_aspect / fallback_aspect)
        fallback_w = tf.minimum(1.0, fallback_aspect / image_aspect)
        found = tf.reduce_any(fits, axis=1)
        h = tf.where(found, h, fallback_h)
        w = tf.where(found, w, fallback_w)
        y1 = (1.0 - h) * tf.where(found, tf.random.stateless_uniform([batch_size], y_seed), 0.5)
        x1 = (1.0 - w) * tf.where(found, tf.random.stateless_uniform([batch_size], x_seed), 0.5)
        return tf.stack([y1, x1, y1 + h, x1 + w], axis=1)

    def call(self, images, training=True, seed=None):
        images, batched = _to_batch(images)
        batch, height, width = tf.unstack(tf.shape(images)[:3])
        if training:
            seed = self.seed_generator.next() if seed is None else seed
            boxes = self.sample_boxes(batch, height, width, seed)
        else:
            boxes = tf.tile([[0.0, 0.0, 1.0, 1.0]], [batch, 1])
        size = self.size or tuple(images.shape[1:3])
        if None in size:  # the input size is known only at run time
            size = (height, width)
        crops = tf.image.crop_and_resize(images, boxes, tf.range(batch), size)
        return crops if batched else crops[0]

    def compute_output_shape(self, input_shape):
        if self.size is None:
            return tuple(input_shape)
        return (*input_shape[:-3], *self.size, input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "ratio": self.ratio,
            "size": self.size,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="clr_lib")
class RandomApply(keras.layers.Layer):
    """Apply ``layer`` to each image independently with probability ``p`` (as torchvision's).

    A per-image Bernoulli(p) mask picks the images that get ``layer``. A ``PerImageLayer`` (the
    colour jitter, the blur) runs only on those: its parameters are drawn for the whole batch, the
    chosen images and their parameters gathered, transformed and scattered back, so the output is
    the same as running it on every image and keeping the chosen ones, and cheaper on a CPU at
    p = 0.5 and 0.8 (``benchmarks/input_pipeline.py --stages``). Any other layer, or any layer
    with ``gather=False``, runs on the whole batch, and the mask picks its output or the input. Either way ``layer`` must keep
    the image shape, and a Keras augmentation layer (or a clr_lib layer) inside draws its
    randomness from the seed given to ``call``.

    Args:
        layer: a Keras layer mapping float32 0..255 images to the same shape.
        p: probability of applying it, in [0, 1].
        seed: int seed of the layer's own generator, used when ``call`` gets no ``seed``.
        gather: run a ``PerImageLayer`` only on the chosen images (the default); ``False`` runs
            it on every image and blends, the same output, for measuring what gathering saves.
    """

    def __init__(
        self, layer: keras.layers.Layer, p: float, seed: int | None = None, gather: bool = True, **kwargs
    ):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                f"layer must be a keras.layers.Layer, got {type(layer).__name__}: wrap a "
                "function in a small Layer subclass so it can be saved."
            )
        self.layer = layer
        self.p = _check_probability(p)
        self.seed = seed
        self.gather = bool(gather)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.layer.build(input_shape)

    def call(self, images, training=True, seed=None):
        images, batched = _to_batch(images)
        if training:
            seed = self.seed_generator.next() if seed is None else seed
            mask_seed, layer_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
            fire = tf.random.stateless_uniform(tf.shape(images)[:1], mask_seed) < self.p  # (N,)
            if self.gather and isinstance(self.layer, PerImageLayer):
                chosen = tf.where(fire)  # (M, 1): indices of the images to transform
                parameters = tf.nest.map_structure(
                    lambda t: tf.gather_nd(t, chosen), self.layer.draw(tf.shape(images)[0], layer_seed)
                )
                applied = self.layer.transform(tf.gather_nd(images, chosen), parameters)
                images = tf.tensor_scatter_nd_update(images, chosen, applied)
            else:
                fire = tf.cast(fire, tf.float32)[:, None, None, None]  # 1 = apply, per image
                applied = tf.cast(_apply(self.layer, images, layer_seed), tf.float32)
                # Exact for a 0/1 mask, and much faster on a CPU than tf.where with broadcasting.
                images = fire * applied + (1.0 - fire) * images
        return images if batched else images[0]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.layer),
            "p": self.p,
            "seed": self.seed,
            "gather": self.gather,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)


# torchvision's rgb_to_grayscale weights (ITU-R 601-2 luma), also those of keras.layers.RandomGrayscale.
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def _grayscale(images: tf.Tensor) -> tf.Tensor:
    """``0.2989 R + 0.587 G + 0.114 B`` of (N, H, W, 3) images, shape (N, H, W, 1)."""
    return tf.matmul(images, tf.constant(GRAY_WEIGHTS, tf.float32)[:, None])


@keras.saving.register_keras_serializable(package="clr_lib")
class SaturationJitter(PerImageLayer):
    """Blend each image with its grayscale copy by a random factor: torchvision's saturation jitter.

    Per pixel ``out = clip(gray + f * (x - gray), 0, 255)``, with ``gray = 0.2989 R + 0.587 G +
    0.114 B`` and one factor ``f ~ U(max(0, 1 - s), 1 + s)`` per image: ``f = 0`` gives the
    grayscale image, ``f = 1`` the image, ``f > 1`` moves the colours away from gray. This is
    torchvision's ``ColorJitter(saturation=s)``: ``adjust_saturation(img, f)`` is
    ``_blend(img, rgb_to_grayscale(img), f)``, clamped to the pixel range. (Keras's
    ``RandomSaturation`` scales the HSV saturation instead and clips it to 0..255, not to [0, 1],
    so a factor above 1 gives negative RGB values on strongly coloured pixels.)

    ``draw(batch_size, seed)`` returns the factors, float32 ``(batch_size,)``.

    Args:
        saturation: the strength ``s``, in [0, 1].
        seed: int seed of the layer's own generator, used when ``call`` gets no ``seed``.

    Call: ``images`` (N, H, W, 3) or (H, W, 3), uint8 or float32 on 0..255; optional ``seed``.
    Returns float32 images of the same shape.
    """

    def __init__(self, saturation: float = 0.8, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0.0 <= saturation <= 1.0:
            raise ValueError(f"saturation must be in [0, 1], got {saturation!r}.")
        self.saturation = float(saturation)

    def draw(self, batch_size, seed: tf.Tensor) -> tf.Tensor:
        s = self.saturation
        return tf.random.stateless_uniform([batch_size], seed, max(0.0, 1.0 - s), 1.0 + s)

    def transform(self, images: tf.Tensor, factors: tf.Tensor) -> tf.Tensor:
        gray = _grayscale(images)
        return tf.clip_by_value(gray + factors[:, None, None, None] * (images - gray), 0.0, 255.0)

    def get_config(self):
        return {**super().get_config(), "saturation": self.saturation}


@keras.saving.register_keras_serializable(package="clr_lib")
class ColorJitter(PerImageLayer):
    """Colour jitter with torchvision-style strengths: brightness, contrast, saturation and hue.

    Applies, in this fixed order, ``keras.layers.RandomBrightness``, ``keras.layers.RandomContrast``,
    ``SaturationJitter`` and ``keras.layers.RandomHue``, each with its own per-image draw and each
    clipping to 0..255. A strength of 0 leaves that part out. The strengths (images on 0..255):

    - brightness ``b``: Keras's brightness is additive: ``x + d * 255`` with ``d ~ U(-b, b)``,
      then clipped. torchvision (and SimCLR v2's code) multiply by ``U(1 - b, 1 + b)`` instead;
      Keras has no multiplicative layer, and additive with ``max_delta = b`` is exactly SimCLR
      v1's TF code (``tf.image.random_brightness``), so ``factor = b``.
    - contrast ``c``: ``(x - mean) * f + mean`` with ``f ~ U(1 - c, 1 + c)``, the channel means
      taken over the image, as ``tf.image.adjust_contrast``. Keras needs ``factor=(c, c)``: a
      single float ``c`` means ``f ~ U(1, 1 + c)``, contrast can only go up.
    - saturation ``s``: ``SaturationJitter(s)``, torchvision's blend towards the grayscale image
      with a factor ``f ~ U(max(0, 1 - s), 1 + s)``, uniform as in torchvision.
    - hue ``h``: a hue rotation ``~ U(-h, h)`` turns, as torchvision; Keras rotates by
      ``+-f / 2`` with ``f ~ U(0, factor)``, so ``factor = 2 * h``. It goes through HSV and back
      (``tf.image.rgb_to_hsv``, ``hsv_to_rgb``), as torchvision's ``adjust_hue``: the costliest part.

    torchvision and SimCLR's code shuffle the order of the four per image; this order is fixed.
    ``draw(batch_size, seed)`` returns the parts' per-image parameters, a list in that order.

    Args:
        brightness, contrast, saturation: strengths in [0, 1] (SimCLR: 0.8 * strength).
        hue: strength in [0, 0.5] (SimCLR: 0.2 * strength).
        seed: int seed of the layer's own generator, used when ``call`` gets no ``seed``.
    """

    def __init__(
        self,
        brightness: float = 0.8,
        contrast: float = 0.8,
        saturation: float = 0.8,
        hue: float = 0.2,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        for name, value, top in [
            ("brightness", brightness, 1.0),
            ("contrast", contrast, 1.0),
            ("saturation", saturation, 1.0),
            ("hue", hue, 0.5),
        ]:
            if not 0.0 <= value <= top:
                raise ValueError(f"{name} must be in [0, {top}] (0 turns it off), got {value!r}.")
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)
        self.jitters = []
        if brightness > 0:
            self.jitters.append(keras.layers.RandomBrightness(brightness))
        if contrast > 0:
            self.jitters.append(keras.layers.RandomContrast((contrast, contrast)))
        if saturation > 0:
            self.jitters.append(SaturationJitter(saturation))
        if hue > 0:
            self.jitters.append(keras.layers.RandomHue(2 * hue))

    def build(self, input_shape):
        for jitter in self.jitters:
            jitter.build(input_shape)

    def draw(self, batch_size, seed: tf.Tensor) -> list:
        if not self.jitters:
            return []
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, len(self.jitters)))
        # Keras's colour layers read only the batch size of the images they draw for; their
        # parameters are per image: (N, 1, 1, 1) shifts and factors, (N,) hue rotations.
        shape_only = tf.zeros([batch_size, 1, 1, 3])
        return [
            jitter.draw(batch_size, s) if isinstance(jitter, PerImageLayer)
            else jitter.get_random_transformation(shape_only, training=True, seed=_SeedStream(s))
            for jitter, s in zip(self.jitters, seeds)
        ]

    def transform(self, images: tf.Tensor, parameters: list) -> tf.Tensor:
        for jitter, drawn in zip(self.jitters, parameters):
            if isinstance(jitter, PerImageLayer):
                images = jitter.transform(images, drawn)
            else:
                images = jitter.transform_images(images, drawn, training=True)
        return images

    def get_config(self):
        return {
            **super().get_config(),
            "brightness": self.brightness,
            "contrast": self.contrast,
            "saturation": self.saturation,
            "hue": self.hue,
        }


@keras.saving.register_keras_serializable(package="clr_lib")
class Solarize(keras.layers.Layer):
    """Invert the pixels at or above ``threshold``: ``x if x < threshold else 255 - x`` (BYOL).

    Deterministic; wrap it in ``RandomApply`` to apply it with a probability.
    ``keras.layers.Solarization`` cannot do this: it draws its threshold from
    ``U(threshold_factor[0], 255 * threshold_factor[1])`` (only the upper bound is scaled), so it
    has no fixed threshold other than 0.
    """

    def __init__(self, threshold: float = 128.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= threshold <= 255.0:
            raise ValueError(f"threshold must be in [0, 255] (images are 0..255), got {threshold}.")
        self.threshold = float(threshold)

    def call(self, images):
        images = tf.cast(images, tf.float32)
        return tf.where(images < self.threshold, images, 255.0 - images)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def blur_kernel_size(side: int) -> int:
    """SimCLR's blur kernel: 10% of the image side, rounded down to odd, at least 3 (224 -> 23)."""
    return max(3, int(0.1 * side) // 2 * 2 + 1)


def _blur_matrices(weights: tf.Tensor, n) -> tf.Tensor:
    """The (N, n, n) matrices that blur along an axis of length ``n`` with reflect padding.

    ``weights`` (N, K) are the kernels, K = 2r + 1 odd. Row ``i`` of image ``k``'s matrix holds
    ``weights[k, j]`` at the column of pixel ``i + j - r``, reflected at the borders as
    ``torch.nn.functional.pad(mode="reflect")`` (and ``np.pad(mode="reflect")``): pixel ``-1`` is
    pixel ``1``, pixel ``n`` is pixel ``n - 2``. Needs ``r < n``.
    """
    r = weights.shape[1] // 2
    columns = tf.abs(tf.range(n)[None, :] + tf.range(-r, r + 1)[:, None])  # (K, n): pixel read by tap j of row i
    columns = tf.where(columns > n - 1, 2 * (n - 1) - columns, columns)
    return tf.einsum("bj,jic->bic", weights, tf.one_hot(columns, n))


@keras.saving.register_keras_serializable(package="clr_lib")
class GaussianBlur(PerImageLayer):
    """Blur each image with an isotropic Gaussian of its own random sigma (torchvision's GaussianBlur).

    Per image, ``sigma ~ U(sigma_min, sigma_max)``; the kernel is ``exp(-x^2 / (2 sigma^2))`` at
    ``x = -r .. r`` (``kernel_size = 2r + 1``), divided by its sum, applied along the height and
    then the width (a Gaussian is separable), with the image reflected at its borders. That is
    torchvision's ``GaussianBlur(kernel_size, sigma)`` for one image, which SimCLR's PyTorch
    recipes apply per image with ``sigma=(0.1, 2.0)`` and a kernel of 10% of the side
    (``blur_kernel_size``). (Keras's ``RandomGaussianBlur`` draws one (sigma_y, sigma_x) pair per
    batch and pads with zeros; SimCLR's TF code also pads with zeros.)

    Blurring along an axis of length n is a product with an (N, n, n) matrix per image (see
    ``_blur_matrices``): one batched matrix product per axis, faster on a CPU than K shifted
    copies at small sizes; its cost grows as n^2 rather than K n, fine up to a few hundred pixels.

    ``draw(batch_size, seed)`` returns the sigmas, float32 ``(batch_size,)``.

    Args:
        kernel_size: odd kernel side in pixels, less than twice the image side.
        sigma: (min, max) of the uniform sigma, in pixels, ``0 < min <= max``.
        seed: int seed of the layer's own generator, used when ``call`` gets no ``seed``.

    Call: ``images`` (N, H, W, 3) or (H, W, 3), uint8 or float32 on 0..255; optional ``seed``.
    Returns float32 images of the same shape.
    """

    def __init__(self, kernel_size: int, sigma: tuple[float, float] = (0.1, 2.0), seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not is_positive_int(kernel_size) or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}: see blur_kernel_size.")
        if len(sigma) != 2 or not 0 < sigma[0] <= sigma[1]:
            raise ValueError(f"sigma must be (min, max) with 0 < min <= max, got {sigma!r}, e.g. (0.1, 2.0).")
        self.kernel_size = kernel_size
        self.sigma = (float(sigma[0]), float(sigma[1]))

    def draw(self, batch_size, seed: tf.Tensor) -> tf.Tensor:
        return tf.random.stateless_uniform([batch_size], seed, *self.sigma)

    def kernels(self, sigmas: tf.Tensor) -> tf.Tensor:
        """The 1-D kernels for ``sigmas`` (N,): float32 (N, kernel_size), each summing to 1."""
        r = self.kernel_size // 2
        x = tf.range(-r, r + 1, dtype=tf.float32)
        weights = tf.exp(-0.5 * tf.square(x[None, :] / sigmas[:, None]))
        return weights / tf.reduce_sum(weights, axis=1, keepdims=True)

    def transform(self, images: tf.Tensor, sigmas: tf.Tensor) -> tf.Tensor:
        if any(side is not None and side <= self.kernel_size // 2 for side in images.shape[1:3]):
            raise ValueError(
                f"GaussianBlur({self.kernel_size}) reflects the image at its borders, which needs sides "
                f"above {self.kernel_size // 2} pixels; got images of shape {images.shape}."
            )
        batch, height, width = tf.unstack(tf.shape(images)[:3])
        weights = self.kernels(sigmas)
        # Along the height: (N, H, H) @ (N, H, W * 3). Then along the width, on the transposed images.
        images = tf.matmul(_blur_matrices(weights, height), tf.reshape(images, [batch, height, -1]))
        images = tf.transpose(tf.reshape(images, [batch, height, width, 3]), [0, 2, 1, 3])
        images = tf.matmul(_blur_matrices(weights, width), tf.reshape(images, [batch, width, -1]))
        return tf.transpose(tf.reshape(images, [batch, width, height, 3]), [0, 2, 1, 3])

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "sigma": self.sigma}


@keras.saving.register_keras_serializable(package="clr_lib")
class SimCLRAugment(keras.layers.Layer):
    """The SimCLR augmentation pipeline as one layer; see ``simclr_augment`` for the details."""

    def __init__(
        self,
        strength: float = 1.0,
        blur: bool = False,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        image_size: int | None = None,
        solarize_p: float = 0.0,
        seed: int | None = None,
        crop: bool = True,
        color: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= strength <= 1.25:
            raise ValueError(
                f"strength must be in [0, 1.25], got {strength!r}: 0.8 * strength is a "
                "brightness/contrast/saturation factor and must stay <= 1 (0 = no colour jitter)."
            )
        if image_size is not None and not is_positive_int(image_size):
            raise ValueError(f"image_size must be a positive int or None, got {image_size!r}.")
        if blur and image_size is None:
            raise ValueError("blur=True needs image_size: the blur kernel is 10% of the side.")
        self.strength, self.blur, self.image_size = float(strength), bool(blur), image_size
        self.crop_scale = tuple(float(v) for v in crop_scale)
        self.solarize_p = _check_probability(solarize_p, "solarize_p")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.use_crop, self.use_color = bool(crop), bool(color)
        # Always built: without the random crop it still resizes every image to image_size.
        self.crop = RandomResizedCrop(scale=self.crop_scale, size=image_size)
        self.stages = [self.crop] if self.use_crop else []
        self.stages.append(keras.layers.RandomFlip("horizontal"))
        if self.use_color and strength > 0:
            s = self.strength
            self.stages.append(RandomApply(ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s), 0.8))
        if self.use_color:
            self.stages.append(keras.layers.RandomGrayscale(0.2))
        if blur:
            self.stages.append(RandomApply(GaussianBlur(blur_kernel_size(image_size)), 0.5))
        if self.solarize_p > 0:
            self.stages.append(RandomApply(Solarize(), self.solarize_p))

    def build(self, input_shape):
        self.crop.build(input_shape)
        for stage in self.stages:
            if stage is not self.crop:
                stage.build(self.crop.compute_output_shape(input_shape))

    def call(self, images, training=True, seed=None):
        if tf.executing_eagerly():  # values at hand: a cheap max; graphs (tf.data, fit) skip it
            check_pixel_scale(images)
        images, batched = _to_batch(images)
        if training:
            if not self.use_crop:
                images = self.crop(images, training=False)  # the whole image, only resized
            seed = self.seed_generator.next() if seed is None else seed
            seeds = tf.random.experimental.stateless_split(seed, len(self.stages))
            for i, stage in enumerate(self.stages):
                images = _apply(stage, images, seeds[i])
            images = tf.clip_by_value(images, 0.0, 255.0)
        else:
            images = self.crop(images, training=False)  # only resizes to image_size
        return images if batched else images[0]

    def compute_output_shape(self, input_shape):
        return self.crop.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "strength": self.strength,
            "blur": self.blur,
            "crop_scale": self.crop_scale,
            "image_size": self.image_size,
            "solarize_p": self.solarize_p,
            "seed": self.seed,
            "crop": self.use_crop,
            "color": self.use_color,
        }


def simclr_augment(
    strength: float = 1.0,
    blur: bool = False,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    image_size: int | None = None,
    solarize_p: float = 0.0,
    seed: int | None = None,
    *,
    crop: bool = True,
    color: bool = True,
) -> keras.layers.Layer:
    """The SimCLR augmentation pipeline (Chen et al. 2020, appendix A) as one Keras layer.

    In order, each with its own draw per image:

    1. ``RandomResizedCrop(scale=crop_scale, ratio=(3/4, 4/3))``, resized to ``image_size``
       (default: the input size); with ``crop=False`` the whole image is only resized to
       ``image_size``, so the geometry is unchanged (up to the flip);
    2. ``keras.layers.RandomFlip("horizontal")``, p = 0.5 (always);
    3. ``ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s)`` with probability 0.8, ``s = strength``
       (0 leaves it out; see ``ColorJitter`` for what the strengths mean: brightness is additive
       as in SimCLR v1's code, saturation a blend towards gray as in torchvision, the order of the
       four is fixed);
    4. ``keras.layers.RandomGrayscale``, p = 0.2 (kept at any strength, as in SimCLR);
       ``color=False`` leaves out both 3 and 4 (SimCLR's "colour distortion"), so every pixel
       keeps its colour (crops only interpolate between neighboring pixels);
    5. if ``blur`` (which needs ``image_size``): ``GaussianBlur`` with probability 0.5, kernel
       10% of the side (``blur_kernel_size``), one isotropic sigma ~ U(0.1, 2.0) per image,
       reflect padding, as torchvision. SimCLR leaves blur out on CIFAR-10;
    6. if ``solarize_p > 0``: ``Solarize()`` (threshold 128) with probability ``solarize_p``.

    Output is clipped to [0, 255], float32. Call it on (N, H, W, 3) or (H, W, 3) images, uint8 or
    float32 on 0..255, with an optional stateless ``seed`` (int tensor of shape (2,)); without
    one it draws from its own generator, seeded by ``seed`` here. ``training=False`` only
    resizes to ``image_size``. The defaults (``crop=True``, ``color=True``) are the full
    pipeline; ``simclr_variant`` names the usual ablations.
    """
    return SimCLRAugment(strength, blur, crop_scale, image_size, solarize_p, seed, crop=crop, color=color)


# The ablation variants of ``simclr_variant``: which parts of the pipeline each one keeps.
# The horizontal flip is in every variant, so that they differ only in crop, colour and blur.
VARIANTS: dict[str, dict[str, bool]] = {
    "flip": {"crop": False, "color": False, "blur": False},
    "crop": {"crop": True, "color": False, "blur": False},
    "color": {"crop": False, "color": True, "blur": False},
    "crop+color": {"crop": True, "color": True, "blur": False},
    "all": {"crop": True, "color": True, "blur": True},
}


def simclr_variant(
    name: str,
    strength: float = 1.0,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    image_size: int | None = None,
    seed: int | None = None,
) -> SimCLRAugment:
    """A named part of the SimCLR pipeline, for the augmentation ablation of Chen et al. 2020 (fig. 5).

    Every variant keeps the horizontal flip (p = 0.5); the others add (see ``simclr_augment``):

    - ``"flip"``: nothing else (a control: the two views differ only by a mirror image);
    - ``"crop"``: random resized crop with ``crop_scale``;
    - ``"color"``: colour jitter of ``strength`` (p = 0.8) and grayscale (p = 0.2), no crop;
    - ``"crop+color"``: both, which is ``simclr_augment(strength, crop_scale=crop_scale, ...)``
      itself, SimCLR's CIFAR-10 recipe;
    - ``"all"``: crop + colour + Gaussian blur (p = 0.5), SimCLR's ImageNet recipe; the blur
      kernel is 10% of ``image_size``, which is therefore required.

    Solarization (BYOL's) is in none of them. Returns a ``SimCLRAugment`` layer.
    """
    if name not in VARIANTS:
        raise ValueError(f"Unknown augmentation variant {name!r}; choose one of {', '.join(map(repr, VARIANTS))}.")
    parts = VARIANTS[name]
    if parts["blur"] and image_size is None:
        raise ValueError(
            f"The variant {name!r} includes blur, whose kernel is 10% of the image side: pass image_size "
            "(e.g. image_size=32 for CIFAR-10)."
        )
    return SimCLRAugment(strength, parts["blur"], crop_scale, image_size, 0.0, seed,
                         crop=parts["crop"], color=parts["color"])


def two_views(
    ds: tf.data.Dataset, augment, seed: int | None = None, small_augment=None, num_small: int = 0,
    keep_labels: bool = False,
) -> tf.data.Dataset:
    """Map a dataset of images to pairs ``(view_a, view_b)`` of independently augmented views.

    Elements may be single images (H, W, 3), batches (N, H, W, 3), or tuples whose first item
    is the images (e.g. ``(image, label)``): the rest is dropped, views need no labels (with
    ``keep_labels=True``, elements ``(images, labels)`` keep their labels last, for supervised
    contrastive learning: ``(view_a, view_b, labels)``). Batch
    first (``ds.batch(256)`` before this): one call then augments a whole batch with per-image
    randomness, far faster on a CPU than one image at a time.

    Both views come from one call of ``augment`` on the images stacked twice, so each copy gets
    its own per-image draws. Its stateless seed comes from ``tf.data.Dataset.random(seed,
    rerandomize_each_iteration=True)``, zipped to the elements before the parallel ``map``: the
    views depend only on ``seed`` and the element's position, not on which thread ran first. So
    a fixed seed repeats exactly, each epoch (each new iteration of the dataset) gets fresh
    views, and ``seed=None`` falls back to ``augment.seed`` (random if that is None too).
    ``augment`` is a clr_lib layer (such as ``simclr_augment()``) or a Keras augmentation layer;
    any other callable is called without a seed and is then not reproducible.

    Multi-crop (Caron et al. 2020): with ``num_small = M > 0``, each element is
    ``(view_a, view_b, small_1, ..., small_M)``, the ``M`` extra views drawn by ``small_augment``
    (typically smaller crops at a smaller size, e.g. ``simclr_augment(crop_scale=(0.1, 0.4),
    image_size=12)``) from a seed stream of their own.
    """
    if num_small and small_augment is None:
        raise ValueError(f"num_small={num_small} small views need small_augment, the layer that draws them.")
    if seed is None:
        seed = getattr(augment, "seed", None)
    randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    if keep_labels and not (isinstance(ds.element_spec, tuple) and len(ds.element_spec) == 2):
        raise ValueError("keep_labels=True needs a dataset of (images, labels); this one has no labels.")

    def views(element, random):
        images = element[0] if isinstance(element, tuple) else element
        batch, batched = _to_batch(images)
        seed = tf.stack([random, tf.zeros_like(random)])
        # One call on 2N images rather than two on N: half the tracing, and faster to run.
        both = tf.cast(_apply(augment, tf.concat([batch, batch], 0), seed), tf.float32)
        out = tf.split(both, 2)
        if num_small:
            small_seed = tf.stack([random, tf.ones_like(random)])
            small = tf.cast(_apply(small_augment, tf.concat([batch] * num_small, 0), small_seed), tf.float32)
            out += tf.split(small, num_small)
        out = out if batched else [view[0] for view in out]
        return (*out, element[1]) if keep_labels else tuple(out)

    return tf.data.Dataset.zip(ds, randoms).map(
        views, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
