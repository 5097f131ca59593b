"""Benchmark the contrastive input pipeline: loading CIFAR-10, then making pairs of augmented views.

Prints, as plain lines:

1. how long ``clr_lib.data.load_cifar10()`` takes cold (a fresh, temporary ``CLR_CACHE_DIR``, so
   the images are decoded) and cached (the second call);
2. the throughput, in images per second, of ``tf.data`` batches of the training images through
   ``clr_lib.augment.two_views(ds, clr_lib.augment.simclr_augment())`` (each image gives two views).

With ``--stages``, it prints instead what each step of ``simclr_augment`` costs: milliseconds per
batch of ``2 x batch_size`` views (the two views of a batch, as ``two_views`` makes them) for the
crop, the flip, the colour jitter (under its ``RandomApply``, then each of its parts on every
image), the grayscale, the blur, the final clip and the whole layer (with and without blur); for
a ``RandomApply`` that runs its layer only on the images it picks, also the alternative of running
it on every image and blending ("blended"). All with the book profile's settings (crop scale,
jitter strength) at each ``--view-sizes``. Each step runs in its own ``tf.function`` on the
output of the steps before it; the time is the median and the best of ``--runs`` calls after
two warm-up calls. ``--augment PATH`` (repeatable) measures other copies of
``clr_lib/augment.py`` side by side, e.g. an older one from git, each in its own column, the
calls interleaved so that a change of load hits every column alike. The CPU's load average is
printed with the table: on a shared machine compare the columns' ratios, not the times.

CIFAR-10 comes from ``CLR_DATA_DIR`` (or Keras's download); when it is not available, the
throughput is measured on ``clr_lib.data.make_synthetic`` images of the same size instead.

Run from the repository root, e.g.::

    CLR_DATA_DIR=/path/to/cifar10-jpeg.zip .venv/bin/python benchmarks/input_pipeline.py --batches 20
    git show <older commit>:clr_lib/augment.py > /tmp/augment_old.py
    CLR_DATA_DIR=/path/to/cifar10-jpeg.zip .venv/bin/python benchmarks/input_pipeline.py --stages \\
        --augment /tmp/augment_old.py --augment clr_lib/augment.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from clr_lib import augment, config, data  # noqa: E402


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


def load_augment(path: str):
    """A copy of ``clr_lib/augment.py`` at ``path``, imported as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"augment_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Which step of simclr_augment a layer is, from its class name: the rows of the --stages table.
ROLES = [("ResizedCrop", "crop"), ("Flip", "flip"), ("Brightness", "brightness"), ("Contrast", "contrast"),
         ("Saturation", "saturation"), ("Hue", "hue"), ("Grayscale", "grayscale"), ("Blur", "blur"),
         ("Solarize", "solarize"), ("ColorJitter", "colour jitter")]


def role(layer) -> str:
    name = type(layer).__name__
    return next((row for key, row in ROLES if key in name), name)


def steps(module, layer, images, seed) -> list[tuple[str, object, tf.Tensor]]:
    """``(row, step, input)`` for each step of ``layer.call`` (a ``SimCLRAugment``), in order.

    ``step(images, seed)`` runs one step; its input is the output of the steps before it (seeded by
    ``seed``). A ``RandomApply`` is a row, followed by its layer on every image (and, for the colour
    jitter, each of its parts on the output of the parts before it), indented. When ``RandomApply``
    runs its layer only on the chosen images (a ``PerImageLayer``), a row "blended" times the
    alternative: the layer on every image, blended with the input by the same mask.
    """
    rows = []
    for stage in layer.stages:
        apply = lambda x, s, stage=stage: module._apply(stage, x, s)
        if hasattr(stage, "p"):  # RandomApply
            inner = stage.layer
            rows.append((f"{role(inner)}, p = {stage.p:g}", apply, images))
            if isinstance(inner, getattr(module, "PerImageLayer", ())):
                blended = module.RandomApply(inner, stage.p, gather=False)
                rows.append((f"{role(inner)}, p = {stage.p:g}, blended", lambda x, s, b=blended: b(x, seed=s), images))
            rows.append((f"  {role(inner)}, every image", lambda x, s, inner=inner: module._apply(inner, x, s), images))
            parts, x = getattr(inner, "jitters", []), images
            for part in parts:
                rows.append((f"    {role(part)}", lambda x, s, part=part: module._apply(part, x, s), x))
                x = module._apply(part, x, seed)
        else:
            rows.append((role(stage), apply, images))
        images = apply(images, seed)
    rows.append(("clip", lambda x, s: tf.clip_by_value(x, 0.0, 255.0), images))
    return rows


def seconds(function, images: tf.Tensor, run: int) -> float:
    """Wall time of one call ``function(images, seed)``, its seed made from ``run``."""
    seed = tf.constant([run, 7], tf.int32)
    start = time.perf_counter()
    function(images, seed).numpy()
    return time.perf_counter() - start


def time_stages(modules: dict[str, object], views: tf.Tensor, view_size: int, runs: int) -> list[tuple[str, list]]:
    """Rows ``(step, [(median ms, best ms) or None, per module])`` for the batch ``views``.

    Each step gets two warm-up calls (tracing), then ``runs`` rounds of one call of every step of
    every module, so that a change of load during the measurement hits them all alike.
    """
    profile = config.PROFILES["book"]
    settings = {"strength": profile.jitter_strength, "crop_scale": profile.crop_scale, "image_size": view_size, "seed": 0}
    seed = tf.constant([0, 7], tf.int32)
    calls = {}  # (module, step) -> (tf.function, its input)
    for name, module in modules.items():
        layers = {"whole layer, no blur (book)": module.simclr_augment(**settings),
                  "whole layer, blur": module.simclr_augment(blur=True, **settings)}
        rows = steps(module, layers["whole layer, blur"], tf.cast(views, tf.float32), seed)
        rows += [(label, lambda x, s, layer=layer: layer(x, seed=s), views) for label, layer in layers.items()]
        for label, step, x in rows:
            calls[name, label] = (tf.function(step), x)
    for function, x in calls.values():
        seconds(function, x, -1), seconds(function, x, -2)
    times = {key: [] for key in calls}
    for run in range(runs):
        for key, (function, x) in calls.items():
            times[key].append(seconds(function, x, run))
    labels = []  # every module's rows, each after the row it follows in its module
    for name in modules:
        previous = None
        for module_name, label in calls:
            if module_name == name:
                if label not in labels:
                    labels.insert(labels.index(previous) + 1 if previous else 0, label)
                previous = label
    return [(label, [(1e3 * statistics.median(times[name, label]), 1e3 * min(times[name, label]))
                     if (name, label) in times else None for name in modules]) for label in labels]


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages (Linux), or "unknown"."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def print_stages(args) -> None:
    """The --stages table, for each view size."""
    paths = args.augment or [augment.__file__]
    modules = {path: load_augment(path) for path in paths}
    try:
        (images, _), _ = data.load_cifar10()
        source = "CIFAR-10 training images"
    except (data.DataNotFoundError, ValueError):
        images, _ = data.make_synthetic(2 * args.batch_size, image_size=32)
        source = "make_synthetic images"
    images = images[: args.batch_size]
    views = tf.concat([images, images], 0)  # two_views augments both copies in one call
    profile = config.PROFILES["book"]
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores; {len(views)} views ({source}, 2 x {len(images)}); "
          f"book profile: crop scale {profile.crop_scale}, jitter strength {profile.jitter_strength}; "
          f"ms per batch, median / best of {args.runs}")
    for view_size in args.view_sizes:
        print(f"\nview size {view_size} (from 32 px); load average before: {load_average()}")
        table = time_stages(modules, views, view_size, args.runs)
        names = ["/".join(Path(path).parts[-2:]) for path in modules]
        width = max(len(label) for label, _ in table) + 2
        print("step".ljust(width) + "".join(f"{name[-26:]:>28}" for name in names)
              + ("   ratio (last / first, median)" if len(names) > 1 else ""))
        for label, cells in table:
            line = label.ljust(width) + "".join(
                f"{'-':>28}" if cell is None else f"{cell[0]:>19.2f} / {cell[1]:6.2f}" for cell in cells)
            if len(names) > 1 and cells[0] and cells[-1]:
                line += f"   {cells[-1][0] / cells[0][0]:6.2f}"
            print(line)
        print(f"load average after: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    parser.add_argument("--batches", type=int, default=20, help="batches to time, after the warm-up (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="batches run before timing (default 3)")
    parser.add_argument("--stages", action="store_true",
                        help="time each step of simclr_augment on 2 x batch-size views instead")
    parser.add_argument("--view-sizes", type=int, nargs="+", default=[24, 32],
                        help="with --stages: view sides to time (default 24, the book profile's, and 32)")
    parser.add_argument("--runs", type=int, default=15, help="with --stages: timed calls per step (default 15)")
    parser.add_argument("--augment", action="append", metavar="PATH",
                        help="with --stages: a copy of clr_lib/augment.py to time (repeatable; default clr_lib's)")
    args = parser.parse_args()
    if min(args.batch_size, args.batches, args.runs, *args.view_sizes) < 1 or args.warmup < 0:
        parser.error("--batch-size, --batches, --runs and --view-sizes must be at least 1, --warmup at least 0")
    if args.stages:
        print_stages(args)
        return

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
