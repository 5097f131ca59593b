"""Benchmark the contrastive input pipeline: loading CIFAR-10, then making pairs of augmented views.

Prints, as plain lines:

1. how long ``clr_lib.data.load_cifar10()`` takes cold (a fresh, temporary ``CLR_CACHE_DIR``, so
   the images are decoded) and cached (the second call);
2. the throughput, in images per second, of ``tf.data`` batches of the training images through
   ``clr_lib.augment.two_views(ds, clr_lib.augment.simclr_augment())`` (each image gives two views).

CIFAR-10 comes from ``CLR_DATA_DIR`` (or Keras's download); when it is not available, the
throughput is measured on ``clr_lib.data.make_synthetic`` images of the same size instead.

Run from the repository root, e.g.::

    CLR_DATA_DIR=/path/to/cifar10-jpeg.zip .venv/bin/python benchmarks/input_pipeline.py --batches 20
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from clr_lib import augment, data  # noqa: E402


def time_loading() -> tuple:
    """Time load_cifar10() cold and cached with a temporary cache folder; returns the training images or None."""
    with tempfile.TemporaryDirectory(prefix="clr-cache-") as cache:
        os.environ[data.CACHE_DIR_VAR] = cache
        start = time.perf_counter()
        try:
            (x_train, _), _ = data.load_cifar10()
        except (data.DataNotFoundError, ValueError) as error:
            print(f"CIFAR-10 not available ({str(error).splitlines()[0]}); timing the pipeline on synthetic images.")
            return None
        cold = time.perf_counter() - start
        start = time.perf_counter()
        data.load_cifar10()
        cached = time.perf_counter() - start
    source = os.environ.get(data.DATA_DIR_VAR) or "Keras's download"
    print(f"load_cifar10() from {source}: cold {cold:.1f} s, cached {cached:.2f} s")
    return x_train


def time_pipeline(images, batch_size: int, batches: int, warmup: int) -> float:
    """Images per second through shuffle, batch and two_views(simclr_augment()), after ``warmup`` batches."""
    ds = tf.data.Dataset.from_tensor_slices(images).shuffle(10_000, seed=0).repeat()
    ds = augment.two_views(ds.batch(batch_size, drop_remainder=True), augment.simclr_augment(), seed=0)
    pairs = iter(ds.prefetch(tf.data.AUTOTUNE))
    for _ in range(warmup):
        next(pairs)
    start = time.perf_counter()
    for _ in range(batches):
        view_a, view_b = next(pairs)
    elapsed = time.perf_counter() - start
    assert view_a.shape == view_b.shape == (batch_size, *images.shape[1:])
    return batches * batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    parser.add_argument("--batches", type=int, default=20, help="batches to time, after the warm-up (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="batches run before timing (default 3)")
    args = parser.parse_args()
    if min(args.batch_size, args.batches) < 1 or args.warmup < 0:
        parser.error("--batch-size and --batches must be at least 1, --warmup at least 0")

    gpu = bool(tf.config.list_physical_devices("GPU"))
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, GPU: {gpu}")
    images = time_loading()
    name = "CIFAR-10 training images"
    if images is None:
        images, _ = data.make_synthetic(10_000, image_size=32)
        name = "make_synthetic(10000) images"
    rate = time_pipeline(images, args.batch_size, args.batches, args.warmup)
    print(
        f"two_views(simclr_augment()) on {name}: {rate:.0f} images/s ({2 * rate:.0f} views/s), "
        f"batch {args.batch_size}, {args.batches} batches timed after {args.warmup} warm-up"
    )


if __name__ == "__main__":
    main()
