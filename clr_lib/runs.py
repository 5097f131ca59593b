"""Pretraining runs that leave a record: the encoder, ``metrics.json`` and a training-curve PNG.

``pretrain`` is what ``python -m clr_lib pretrain`` and the benchmarks call; ``evaluate``
measures a finished run. A run folder is never overwritten unless asked: ``mode="resume"``
continues an interrupted run from its last completed epoch (``keras.callbacks.BackupAndRestore``,
queues included), ``mode="replace"`` starts over.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from functools import partial
from pathlib import Path

import keras
import numpy as np

from clr_lib import augment, data, evaluation, methods, models, pipeline
from clr_lib.callbacks import KNNMonitor
from clr_lib.config import Profile, cpu_name

METHODS = {
    "simclr": methods.SimCLR,
    "dcl": methods.DCL,
    "dclw": partial(methods.DCL, weighted=True),
    "moco": methods.MoCo,
    "nnclr": methods.NNCLR,
    "margin": methods.MarginContrastive,
}


def build_method(name: str, encoder: keras.Model, **kwargs) -> methods.ContrastiveModel:
    """The method called ``name`` (a key of ``METHODS``) around ``encoder``."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.")
    return METHODS[name](encoder, **kwargs)


def make_optimizer(profile: Profile, steps_per_epoch: int, epochs: int | None = None) -> keras.optimizers.Optimizer:
    """AdamW with linear warm-up to ``profile.learning_rate`` and cosine decay to 0 over ``epochs`` (default: the profile's)."""
    total = max(1, (epochs or profile.epochs) * steps_per_epoch)
    warmup = min(total - 1, int(profile.warmup_epochs * steps_per_epoch))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else profile.learning_rate,
        decay_steps=total - warmup, warmup_target=profile.learning_rate if warmup else None, warmup_steps=warmup,
    )
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=profile.weight_decay)


def load_data(profile: Profile, seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10, cut to the profile's class-balanced train and test subsets."""
    (x, y), (x_test, y_test) = data.load_cifar10()
    if profile.train_size is not None:
        x, y = data.subset(x, y, profile.train_size, seed=seed)
    if profile.test_size is not None:
        x_test, y_test = data.subset(x_test, y_test, profile.test_size, seed=seed)
    return (x, y), (x_test, y_test)


def environment() -> dict:
    """Versions and hardware, recorded next to every number a run produces."""
    import tensorflow as tf

    source = os.environ.get(data.DATA_DIR_VAR)
    return {
        "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
        "numpy": np.__version__, "cpu": cpu_name(), "cpu_count": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],  # other work competing for the cores
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "data": f"{data.DATA_DIR_VAR}={Path(source).name}" if source else "keras.datasets.cifar10",
    }


class _Timer(keras.callbacks.Callback):
    """Wall-clock seconds at the end of every epoch, counted from the start of training."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["wall_time"] = time.perf_counter() - self.start


def _prepare_folder(out: Path, mode: str) -> None:
    if mode not in {"new", "resume", "replace"}:
        raise ValueError(f"mode must be 'new', 'resume' or 'replace', got {mode!r}.")
    if out.exists() and any(out.iterdir()):
        if mode == "new":
            raise FileExistsError(f"{out} already holds a run: pass --resume to continue it or --replace to start over.")
        if mode == "resume" and (out / "metrics.json").exists():
            raise FileExistsError(f"{out} holds a finished run; nothing to resume (use --replace to start over).")
        if mode == "replace":
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def train(
    method: str,
    profile: Profile,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray],
    encoder: str | keras.Model | None = None,
    augment_layer: keras.layers.Layer | None = None,
    epochs: int | None = None,
    seed: int = 0,
    callbacks: list[keras.callbacks.Callback] = (),
    verbose: int | str = 0,
    **method_kwargs,
) -> tuple[methods.ContrastiveModel, dict[str, list[float]]]:
    """Pretrain ``method`` on ``train_data`` images with ``profile``'s recipe; the chapters' one training call.

    ``train_data`` and ``test_data`` are ``(images, labels)``; the labels only feed the kNN
    monitor, which writes ``val_knn_acc`` (weighted kNN of the encoder's features on
    ``test_data``) after every epoch, next to ``loss`` and ``wall_time`` (seconds since the
    start). ``augment_layer`` defaults to the profile's SimCLR augmentation, ``encoder`` to the
    profile's, ``epochs`` to ``profile.epochs``; ``method_kwargs`` go to the method (e.g.
    ``temperature=0.2``). Returns the trained model and its per-epoch history.
    """
    (x, y), (x_test, y_test) = train_data, test_data
    keras.utils.set_random_seed(seed)
    if augment_layer is None:
        augment_layer = augment.simclr_augment(strength=profile.jitter_strength, crop_scale=profile.crop_scale,
                                               image_size=profile.view_size, seed=seed)
    if not isinstance(encoder, keras.Model):
        shape = (None, None, 3) if profile.view_size else (32, 32, 3)
        encoder = models.get_encoder(encoder or profile.encoder, input_shape=shape)
    model = build_method(method, encoder, **{**profile.method_settings.get(method, {}), **method_kwargs})
    pairs = pipeline.pretraining_dataset(x, profile.batch_size, augment_layer, seed=seed)
    model.compile(optimizer=make_optimizer(profile, len(x) // profile.batch_size, epochs))
    monitor = KNNMonitor(x, y, x_test, y_test, k=profile.knn_k, temperature=profile.knn_temperature)
    history = model.fit(pairs, epochs=epochs or profile.epochs, callbacks=[monitor, _Timer(), *callbacks],
                        verbose=verbose).history
    return model, history


def pretrain(
    method: str,
    profile: Profile,
    out: str | os.PathLike,
    encoder: str | None = None,
    mode: str = "new",
    seed: int = 0,
    verbose: int | str = "auto",
    **method_kwargs,
) -> dict:
    """Pretrain ``method`` on CIFAR-10 with ``profile``'s settings and record it in ``out``.

    Writes ``out/encoder.keras``, ``out/metrics.json`` (loss, kNN accuracy and wall time per
    epoch, profile, versions, hardware) and ``out/training.png``; returns the metrics.
    """
    out = Path(out)
    encoder_name = encoder or profile.encoder
    build_method(method, models.get_encoder(encoder_name))  # fail on bad names before touching files or data
    _prepare_folder(out, mode)
    (x, y), (x_test, y_test) = load_data(profile, seed)
    backup = keras.callbacks.BackupAndRestore(str(out / "backup"))
    model, history = train(method, profile, (x, y), (x_test, y_test), encoder_name, seed=seed,
                           callbacks=[backup], verbose=verbose, **method_kwargs)
    model.encoder.save(out / "encoder.keras")
    metrics = {
        "method": method, "encoder": encoder_name, "method_config": {
            k: v for k, v in model.get_config().items() if k not in {"encoder", "name", "trainable", "dtype"}
        },
        "profile": dataclasses.asdict(profile), "seed": seed,
        "train_images": int(len(x)), "test_images": int(len(x_test)),
        "epochs": {key: [float(v) for v in values] for key, values in history.items()},
        "environment": environment(),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    from clr_lib import viz

    viz.training_curves(history, metrics=["loss", "val_knn_acc"]).savefig(out / "training.png", dpi=100)
    return metrics


def evaluate(run: str | os.PathLike, profile: Profile | None = None) -> dict:
    """kNN and linear-probe accuracy of a finished run's encoder, on the run's own data subsets."""
    run = Path(run)
    if not (run / "metrics.json").exists() or not (run / "encoder.keras").exists():
        raise FileNotFoundError(f"{run} is not a finished run (no metrics.json and encoder.keras there).")
    recorded = json.loads((run / "metrics.json").read_text())
    profile = profile or Profile(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded["profile"].items()})
    (x, y), (x_test, y_test) = load_data(profile, recorded.get("seed", 0))
    encoder = keras.models.load_model(run / "encoder.keras")
    result = evaluation.frozen_accuracy(encoder, (x, y), (x_test, y_test), profile.knn_k, profile.knn_temperature)
    result |= {"train_images": int(len(x)), "test_images": int(len(x_test))}
    (run / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result
