"""Contrastive learning on a CPU budget: pretrain for a fixed wall-clock time, then measure.

    python benchmarks/budget.py --method simclr --minutes 20
    python benchmarks/budget.py --method supervised --minutes 20      # the same encoder, with labels

Pretrains on all 50,000 CIFAR-10 training images for ``--minutes`` of training time (data
loading, augmentation and the training steps included; the learning rate follows a
warm-up + cosine schedule over the elapsed time, see ``clr_lib.callbacks.TimeBudget``),
then prints one line: method, encoder, images seen, epochs, weighted-kNN top-1 (k=200,
t=0.1, cosine) and linear-probe top-1 on the 10,000 test images, wall time, peak memory.
Between epochs (off the clock) a kNN monitor on a 10,000/2,000 subset records the
accuracy-against-time curve. The result, with every setting, goes into
``--results`` (a JSON file keyed by ``--tag``), which the book reads.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from clr_lib import augment, data, evaluation, methods, models, pipeline, precision, results, runs  # noqa: E402
from clr_lib.callbacks import KNNMonitor, TimeBudget, WeightAverage  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "budget.json"


def positive_minutes(text: str) -> float:
    minutes = float(text)
    if not 0 < minutes < math.inf:  # nan too
        raise argparse.ArgumentTypeError(f"the budget must be a positive, finite number of minutes, got {text}")
    return minutes


def read_results(path: Path) -> dict:
    """The runs stored in ``path``, ``{}`` if it does not exist yet; ValueError if it is no results file."""
    if not path.exists():
        folder = next(p for p in path.absolute().parents if p.exists())  # where it will be created
        if not folder.is_dir():
            raise ValueError(f"--results {path} cannot be created, {folder} is a file: pass another --results file.")
        return {}
    try:
        return results.read_json(path, "fix or move it, or pass another --results file.")
    except ValueError as error:
        raise ValueError(f"--results {error}") from None


def arguments(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    cli.add_argument("--method", required=True, choices=[*runs.METHODS, "supervised"])
    cli.add_argument("--minutes", type=positive_minutes, required=True)
    cli.add_argument("--encoder", default="small_cnn", choices=list(models.ENCODERS))
    cli.add_argument("--widths", default="32,64,128,256", help="small_cnn stage widths")
    cli.add_argument("--convs", type=int, default=1, help="small_cnn convolutions per stage")
    cli.add_argument("--whiten", type=int, default=0, metavar="PATCH",
                     help="small_cnn: a frozen PATCH x PATCH patch-whitening stem from 5,000 training images (2: airbench's)")
    cli.add_argument("--width", type=int, default=64, help="resnet18_cifar base width")
    cli.add_argument("--batch-size", type=int, default=256)
    cli.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"], help="sgd: momentum 0.9, Nesterov")
    cli.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    cli.add_argument("--weight-decay", type=float, default=1e-4)
    cli.add_argument("--warmup", type=float, default=0.05, help="warm-up, as a fraction of the budget")
    cli.add_argument("--temperature", type=float, help="default: the method's own")
    cli.add_argument("--projection", default="512,128", help="projection head sizes")
    cli.add_argument("--crop-min", type=float, default=0.2, help="smallest crop area fraction")
    cli.add_argument("--jitter", type=float, default=0.5, help="colour-jitter strength")
    cli.add_argument("--view-size", type=int, default=32, help="side of the training views (evaluation is at 32)")
    cli.add_argument("--small-views", type=int, default=0, metavar="M",
                     help="multi-crop: M small views per image besides the two (SimCLR, DCL, DCLW)")
    cli.add_argument("--small-size", type=int, default=12, help="side of the small views")
    cli.add_argument("--small-crop", default="0.1,0.35", help="crop area fractions of the small views, min,max")
    cli.add_argument("--queue", type=int, help="MoCo queue / NNCLR support-set size")
    cli.add_argument("--xla", default="auto", choices=["auto", "on", "off"],
                     help="compile the step with XLA: auto = on a GPU only (ContrastiveModel.compile)")
    cli.add_argument("--precision", default="float32", choices=precision.CHOICES,
                     help="float32, bfloat16 (Keras mixed_bfloat16) or auto: bfloat16 where the CPU has it")
    cli.add_argument("--ema", type=float, metavar="DECAY",
                     help="also evaluate an exponential moving average of the encoder's weights (e.g. 0.998)")
    cli.add_argument("--save-encoder", type=Path, metavar="FILE.keras", help="save the trained encoder there")
    cli.add_argument("--quick-eval", action="store_true",
                     help="for searches: measure on the monitor's 10,000/2,000 subsets instead of the full sets")
    cli.add_argument("--seed", type=int, default=0)
    cli.add_argument("--tag", help="name of this run in the results file (default: derived from the settings)")
    cli.add_argument("--results", type=Path, default=RESULTS)
    args = cli.parse_args(argv)
    if args.small_views and args.method in ("supervised", "supcon"):
        cli.error(f"--small-views: multi-crop is for the self-supervised pair losses, not --method {args.method}.")
    if args.whiten < 0 or (args.whiten and args.encoder != "small_cnn"):
        cli.error(f"--whiten {args.whiten}: a patch side in pixels (2 is airbench's), for --encoder small_cnn only; "
                  "0 (the default) trains without the whitening stem.")
    try:  # before training, not after: a bad results file must not cost the run
        read_results(args.results)
    except ValueError as error:
        cli.error(str(error))
    return args


def build_encoder(args: argparse.Namespace, images: np.ndarray) -> keras.Model:
    """The encoder ``args`` names; ``images``, the training images, for ``--whiten``'s statistics only."""
    shape = (None, None, 3)  # any view size; evaluation feeds 32x32 images
    if args.encoder == "small_cnn":
        widths = tuple(int(w) for w in args.widths.split(","))
        whitening = models.patch_whitening(images[:5000], args.whiten) if args.whiten else None
        return models.small_cnn(widths, args.convs, input_shape=shape, whitening=whitening)
    if args.encoder == "resnet18_cifar":
        return models.resnet18_cifar(args.width, input_shape=shape)
    return models.get_encoder(args.encoder)


def jit_compile(args: argparse.Namespace) -> bool:
    """``--xla`` as ``compile``'s ``jit_compile``; ``auto`` is ``ContrastiveModel.compile``'s rule: a GPU only."""
    if args.xla == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return args.xla == "on"


def build_model(args: argparse.Namespace, encoder: keras.Model) -> keras.Model:
    if args.method == "supervised":
        model = methods.supervised_classifier(encoder, num_classes=10)
        model.compile(runs.base_optimizer(args.optimizer, args.lr, args.weight_decay),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=jit_compile(args))
        return model
    settings = {"projection_dims": tuple(int(d) for d in args.projection.split(","))}
    if args.temperature is not None:
        settings["temperature"] = args.temperature
    if args.queue is not None:
        settings["queue_size"] = args.queue
    model = runs.build_method(args.method, encoder, **settings)
    model.compile(runs.base_optimizer(args.optimizer, args.lr, args.weight_decay), jit_compile=jit_compile(args))
    return model


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports ``ru_maxrss`` in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(seed: int) -> tuple[tuple, tuple, float]:
    """Seed every generator, then load CIFAR-10: ``(train, test, seconds the loading took)``; the
    budget charges those seconds to the run."""
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    train, test = data.load_cifar10()
    return train, test, time.perf_counter() - start


def monitor_subsets(x, y, x_test, y_test) -> tuple[tuple, tuple]:
    """The kNN monitor's memory bank (10,000 training images) and queries (2,000 test images)."""
    return (data.subset(x, y, min(10_000, len(x)), seed=1),  # smaller only on a toy data set
            data.subset(x_test, y_test, min(2_000, len(x_test)), seed=1))


def store(path: Path, tag: str, result: dict) -> None:
    """Add ``result`` under ``tag`` to the results file, read again now (another run may have added
    to it meanwhile) and written atomically (a crash mid-write keeps the earlier runs)."""
    stored = read_results(path)
    stored[tag] = result
    results.write_json(path, stored)


def main(argv: list[str] | None = None) -> dict:
    args = arguments(argv)
    (x, y), (x_test, y_test), load_seconds = load(args.seed)
    n_train = len(x)
    views = augment.simclr_augment(strength=args.jitter, crop_scale=(args.crop_min, 1.0),
                                   image_size=args.view_size, seed=args.seed)
    if args.method == "supervised":
        crop_flip = keras.Sequential([augment.RandomResizedCrop((args.crop_min, 1.0), size=args.view_size),
                                      keras.layers.RandomFlip("horizontal")])
        train = pipeline.labeled_dataset(x, y, args.batch_size, crop_flip, seed=args.seed)
    else:
        small = augment.simclr_augment(strength=args.jitter, image_size=args.small_size, seed=args.seed,
                                       crop_scale=tuple(float(f) for f in args.small_crop.split(","))
                                       ) if args.small_views else None
        train = pipeline.pretraining_dataset(x, args.batch_size, views, seed=args.seed, small_augment=small,
                                             num_small=args.small_views,
                                             labels=y if getattr(runs.METHODS[args.method], "uses_labels", False) else None)
    with precision.policy(args.precision) as chosen:
        encoder = build_encoder(args, x)
        model = build_model(args, encoder)
    (bank_x, bank_y), (probe_x, probe_y) = monitor_subsets(x, y, x_test, y_test)
    budget = TimeBudget(args.minutes * 60 - load_seconds, args.lr, warmup=args.warmup)
    monitor = KNNMonitor(bank_x, bank_y, probe_x, probe_y, k=200, temperature=0.1, encoder=encoder)
    callbacks = [budget, monitor]
    if args.ema is not None:
        average = WeightAverage(encoder, args.ema)
        callbacks.append(average)
    cpu_before = cpu_seconds()
    history = model.fit(train.repeat(), steps_per_epoch=len(x) // args.batch_size, epochs=10_000,
                        callbacks=callbacks, verbose=2).history
    cpu_training = cpu_seconds() - cpu_before  # includes the off-the-clock kNN monitor, a few %
    wall = budget.spent + load_seconds

    if args.quick_eval:
        (x, y), (x_test, y_test) = (bank_x, bank_y), (probe_x, probe_y)
    accuracy = evaluation.frozen_accuracy(encoder, (x, y), (x_test, y_test), k=200, temperature=0.1)
    if args.save_encoder:
        encoder.save(args.save_encoder)
    result = {
        "method": args.method, "encoder": args.encoder,
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "precision": chosen, "xla": model.jit_compile,
        "images_seen": int(model.optimizer.iterations.numpy()) * args.batch_size,
        **accuracy,
        "wall_seconds": wall, "load_seconds": load_seconds,
        "peak_memory_mb": peak_memory_mb(),
        # CPU seconds this process used per second of training: 2.0 = both cores all the time; less
        # means input stalls or other programs competing for the cores
        "training_cores_used": cpu_training / budget.spent,
        "curve": {"train_seconds": history["train_seconds"], "knn_subset": history["val_knn_acc"],
                  "loss": history["loss"]},
        "environment": runs.environment(),
    }
    if args.ema is not None:
        result["ema"] = {"decay": args.ema, **evaluation.frozen_accuracy(average.encoder, (x, y), (x_test, y_test),
                                                                         k=200, temperature=0.1)}
    result["epochs"] = result["images_seen"] / n_train
    result["evaluated_on"] = {"train": int(len(x)), "test": int(len(x_test))}
    if args.method == "supervised":
        result["classifier_top1"] = float(model.evaluate(x_test, y_test, batch_size=512, verbose=0)[1])
    tag = args.tag or f"{args.method}-{args.encoder}-{args.minutes:g}min"
    store(args.results, tag, result)
    print(f"{tag}: method={args.method} encoder={args.encoder} images_seen={result['images_seen']} "
          f"epochs={result['epochs']:.2f} knn_top1={result['knn_top1']:.4f} "
          f"linear_top1={result['linear_probe_top1']:.4f} "
          + (f"ema_knn_top1={result['ema']['knn_top1']:.4f} ema_linear_top1={result['ema']['linear_probe_top1']:.4f} "
             if "ema" in result else "")
          + f"wall={wall / 60:.1f}min precision={chosen} "
          f"xla={'on' if result['xla'] else 'off'} "
          f"peak_mem={result['peak_memory_mb']:.0f}MB", flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
