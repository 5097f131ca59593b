"""Encoders and heads.

Encoders map a batch of images ``(N, H, W, 3)`` on the 0..255 scale, uint8 or float, to
feature vectors ``(N, D)``: they scale and normalise pixels themselves, so a notebook can
feed them raw CIFAR-10 arrays. They do not check the scale (a compiled model cannot warn per
call): ``clr_lib.evaluation.extract_features`` and ``clr_lib.pipeline`` warn about 0..1 floats.
A bad ``input_shape`` (not ``(H, W, 3)``, or smaller than the encoder's downsampling allows) is
refused when the encoder is built. Heads are small MLPs put on top during pretraining.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
from keras import layers

from clr_lib.checks import is_positive_int

# CIFAR-10 per-channel pixel statistics on the 0..1 scale (Krizhevsky 2009 training set).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def _pixels(input_shape: tuple[int, int, int], min_side: int, name: str) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """An image input of ``input_shape`` ``(H, W, 3)``, each known side >= ``min_side``, and its
    standardised float version; ``name`` is the encoder's, for the error messages."""
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(
            f"{name} takes RGB images, input_shape (H, W, 3), got {shape}: it standardises with CIFAR-10's "
            "three channel means. Repeat a grayscale channel: np.repeat(images, 3, axis=-1)."
        )
    if any(side is not None and side < min_side for side in shape[:2]):
        raise ValueError(
            f"{name} halves the image side {min_side.bit_length() - 1} times and needs images of at least "
            f"{min_side} x {min_side} pixels, got {shape[0]} x {shape[1]}: use larger images (or fewer stages)."
        )
    inputs = keras.Input(shape=shape, name="images")
    x = layers.Normalization(
        mean=[255 * m for m in CIFAR_MEAN], variance=[(255 * s) ** 2 for s in CIFAR_STD], name="standardize"
    )(inputs)
    return inputs, x


def _batch_norm(synchronized: bool, name: str | None = None) -> layers.Layer:
    # momentum 0.9 is PyTorch's default (0.1 there), used by the reference implementations; Keras's
    # 0.99 leaves the running statistics far from the truth after the few hundred steps of a CPU run.
    return layers.BatchNormalization(momentum=0.9, synchronized=synchronized, name=name)


def _conv_bn_relu(x, filters: int, strides: int = 1, sync_bn: bool = False, name: str = ""):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}conv")(x)
    x = _batch_norm(sync_bn, name=f"{name}bn")(x)
    return layers.ReLU(name=f"{name}relu")(x)


def patch_whitening(images: np.ndarray, patch: int = 2, eps: float = 5e-4) -> np.ndarray:
    """The kernel of a frozen patch-whitening convolution, computed from unlabelled images.

    ``images`` ``(N, H, W, 3)`` on 0..255 are standardised as the encoders do, and the covariance
    ``C = V diag(lambda) V^T`` of all their ``patch x patch x 3`` patches (``d = 3 patch^2`` values
    each) is diagonalised. Filter ``i`` is ``v_i / sqrt(lambda_i + eps)``, so its response to a patch
    is the patch's coordinate along the ``i``-th principal direction at unit variance; the filters
    come with their negatives, so that a ReLU after them keeps both signs (the stem of Keller
    Jordan's airbench for CIFAR-10, after Coates and Ng's whitening of patches). Returns the
    ``(patch, patch, 3, 2 d)`` kernel of a ``Conv2D`` without bias, ``"valid"`` padding.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or min(images.shape[1:3]) < patch or len(images) < 2:
        raise ValueError(f"patch_whitening needs at least 2 RGB images (N, H, W, 3) of at least {patch} x {patch} "
                         f"pixels, got shape {images.shape}.")
    x = (images.astype(np.float64) / 255.0 - np.array(CIFAR_MEAN)) / np.array(CIFAR_STD)
    windows = np.lib.stride_tricks.sliding_window_view(x, (patch, patch), axis=(1, 2))  # (N, h, w, 3, p, p)
    flat = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 3 * patch * patch)  # rows in the kernel's (p, p, 3) order
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(flat, rowvar=False))
    filters = (eigenvectors / np.sqrt(eigenvalues + eps)).T.reshape(-1, patch, patch, 3).transpose(1, 2, 3, 0)
    return np.concatenate([filters, -filters], axis=-1).astype(np.float32)


def small_cnn(
    widths: Sequence[int] = (32, 64, 128, 256),
    convs_per_stage: int = 1,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    sync_batch_norm: bool = False,
    whitening: np.ndarray | None = None,
) -> keras.Model:
    """A plain VGG-style CNN, fast on a CPU: per stage ``convs_per_stage`` x (3x3 conv, BN, ReLU),
    then 2x2 max-pooling between stages, global average pooling at the end.

    Output: ``(N, widths[-1])`` features. Each pooling halves the side (rounding down), so images
    need sides of at least ``2 ** (len(widths) - 1)`` pixels. ``whitening``, a kernel from
    ``patch_whitening``, puts a frozen patch-whitening convolution and a ReLU before the first stage
    (its ``"valid"`` padding takes ``patch - 1`` pixels off each side). Its weights are not
    trainable but are the model's own: copy a whitened encoder with ``set_weights``, since
    ``keras.models.clone_model`` initialises every layer anew.
    """
    if not widths or not all(is_positive_int(w) for w in widths):
        raise ValueError(f"widths must be one positive int per stage, e.g. (32, 64, 128, 256), got {widths!r}.")
    if not is_positive_int(convs_per_stage):
        raise ValueError(f"convs_per_stage must be a positive int, got {convs_per_stage!r}.")
    if whitening is not None and (np.ndim(whitening) != 4 or np.shape(whitening)[2] != 3):
        raise ValueError(f"whitening must be a (patch, patch, 3, filters) kernel from models.patch_whitening, "
                         f"got shape {np.shape(whitening)}.")
    trim = 0 if whitening is None else np.shape(whitening)[0] - 1
    inputs, x = _pixels(input_shape, 2 ** (len(widths) - 1) + trim, "small_cnn")
    if whitening is not None:
        stem = layers.Conv2D(np.shape(whitening)[-1], np.shape(whitening)[:2], use_bias=False, trainable=False,
                             name="whitening")
        x = layers.ReLU(name="whitening_relu")(stem(x))
        stem.set_weights([np.asarray(whitening, np.float32)])
    for stage, width in enumerate(widths):
        if stage:
            x = layers.MaxPooling2D(name=f"stage{stage}_pool")(x)
        for i in range(convs_per_stage):
            x = _conv_bn_relu(x, width, sync_bn=sync_batch_norm, name=f"stage{stage}_{i}_")
    outputs = layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def small_cnn_slim(
    input_shape: tuple[int, int, int] = (32, 32, 3), sync_batch_norm: bool = False
) -> keras.Model:
    """``small_cnn`` at three quarters of its width (24-48-96-192), ``(N, 192)`` features.

    The encoder of the ``book`` profile: on a 2-core CPU it trains about 1.5x as many images per
    second as ``small_cnn``, which won the 20-minute budget (``benchmarks/budget.py``).
    """
    return small_cnn((24, 48, 96, 192), 1, input_shape, sync_batch_norm)


def _basic_block(x, filters: int, strides: int, sync_bn: bool, name: str):
    """He et al. 2016's basic residual block: two 3x3 convs, projection shortcut when the shape changes."""
    shortcut = x
    y = _conv_bn_relu(x, filters, strides, sync_bn, name=f"{name}a_")
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}b_conv")(y)
    y = _batch_norm(sync_bn, name=f"{name}b_bn")(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}proj_conv")(x)
        shortcut = _batch_norm(sync_bn, name=f"{name}proj_bn")(shortcut)
    return layers.ReLU(name=f"{name}out")(layers.Add(name=f"{name}add")([shortcut, y]))


def resnet18_cifar(
    width: int = 64,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    sync_batch_norm: bool = False,
) -> keras.Model:
    """ResNet-18 with the CIFAR stem: a 3x3 stride-1 first convolution and no max-pool.

    Four stages of two basic blocks, ``width * (1, 2, 4, 8)`` channels (``width=64`` is the
    standard 11.2M-parameter network; smaller widths give a slim ResNet for CPUs).
    Output: ``(N, 8 * width)`` features. Its strided convolutions pad (``"same"``), so any image
    size works.
    """
    inputs, x = _pixels(input_shape, 1, "resnet18_cifar")
    x = _conv_bn_relu(x, width, sync_bn=sync_batch_norm, name="stem_")
    for stage, multiplier in enumerate((1, 2, 4, 8)):
        for block in range(2):
            strides = 2 if stage and not block else 1
            x = _basic_block(x, width * multiplier, strides, sync_batch_norm, name=f"stage{stage}_{block}_")
    outputs = layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, outputs, name="resnet18_cifar")


def resnet50(input_shape: tuple[int, int, int] = (32, 32, 3), sync_batch_norm: bool = False) -> keras.Model:
    """ResNet-50 from ``keras.applications.ResNet50(weights=None)`` (ImageNet stem), randomly
    initialised, with global average pooling. Output: ``(N, 2048)`` features.

    ``keras.applications`` builds its own batch-norm layers, so synchronized batch norm is not
    available here; use ``resnet18_cifar(sync_batch_norm=True)`` for that. It halves the side
    five times and needs images of at least 32 x 32 pixels.
    """
    if sync_batch_norm:
        raise ValueError("resnet50 comes from keras.applications and has no synchronized batch norm; "
                         "use resnet18_cifar(sync_batch_norm=True) instead.")
    inputs, x = _pixels(input_shape, 32, "resnet50")
    backbone = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg", input_shape=input_shape)
    return keras.Model(inputs, backbone(x), name="resnet50")


ENCODERS: dict[str, Callable[..., keras.Model]] = {
    "small_cnn": small_cnn,
    "small_cnn_slim": small_cnn_slim,
    "resnet18_cifar": resnet18_cifar,
    "resnet50": resnet50,
}


def get_encoder(name: str, **kwargs) -> keras.Model:
    """Build the encoder called ``name`` (a key of ``ENCODERS``) with keyword settings."""
    if name not in ENCODERS:
        raise ValueError(f"Unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}.")
    return ENCODERS[name](**kwargs)


def _mlp(dims: Sequence[int], batch_norm: bool, sync_batch_norm: bool, name: str) -> keras.Sequential:
    if not dims:
        raise ValueError(f"{name} needs at least one layer size in dims, e.g. (512, 128).")
    stack: list[layers.Layer] = []
    for i, units in enumerate(dims[:-1]):
        stack.append(layers.Dense(units, use_bias=not batch_norm, name=f"dense{i}"))
        if batch_norm:
            stack.append(_batch_norm(sync_batch_norm, name=f"bn{i}"))
        stack.append(layers.ReLU(name=f"relu{i}"))
    stack.append(layers.Dense(dims[-1], name=f"dense{len(dims) - 1}"))
    return keras.Sequential(stack, name=name)


def projection_head(
    dims: Sequence[int] = (512, 128), batch_norm: bool = True, sync_batch_norm: bool = False
) -> keras.Sequential:
    """SimCLR's projection head ``g``: Dense-(BN)-ReLU for each hidden size, then a linear output of ``dims[-1]``."""
    return _mlp(dims, batch_norm, sync_batch_norm, name="projection_head")


def prediction_head(
    dims: Sequence[int] = (512, 128), batch_norm: bool = True, sync_batch_norm: bool = False
) -> keras.Sequential:
    """The predictor ``q`` of NNCLR (and BYOL): the same MLP shape, applied after the projection."""
    return _mlp(dims, batch_norm, sync_batch_norm, name="prediction_head")
