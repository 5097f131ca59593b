"""Pretraining runs that leave a record: the encoder, ``metrics.json`` and a training-curve PNG.

``pretrain`` is what ``python -m clr_lib pretrain`` and the benchmarks call; ``evaluate``
measures a finished run. A run folder is never overwritten unless asked: ``mode="resume"``
continues an interrupted run from its last completed epoch (``keras.callbacks.BackupAndRestore``,
queues included), ``mode="replace"`` starts over. Either touches only the files a run writes
(``clr_lib.run_folder``), and only after every setting has been checked and the data loaded.

A run records its settings in ``.clr_run.json`` when it starts, and a resume must match them.
During training ``backup/`` holds the weights and ``backup/history.json``, the history of every
epoch done; it is removed only after the results are written (the encoder, the curves, then
``metrics.json``, each atomically), so a run killed at any point can be resumed or finished.
A resumed run continues ``wall_time`` (training seconds, the pause left out) and draws its
shuffles and views from a seed that folds in the epochs already done (``_epoch_seed``): the
remaining epochs see fresh views rather than a replay of the first epochs'. So a resumed run
is reproducible, but not identical to one that was never interrupted.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
import zipfile
from functools import partial
from pathlib import Path

import keras
import numpy as np

from clr_lib import augment, data, evaluation, methods, models, pipeline, precision, results, run_folder
from clr_lib.callbacks import KNNMonitor
from clr_lib.config import Profile, cpu_name

METHODS = {
    "simclr": methods.SimCLR,
    "dcl": methods.DCL,
    "dclw": partial(methods.DCL, weighted=True),
    "moco": methods.MoCo,
    "nnclr": methods.NNCLR,
    "margin": methods.MarginContrastive,
    "supcon": methods.SupCon,  # learns from labels: trains on (view_a, view_b, labels)
}

def build_method(name: str, encoder: keras.Model, **kwargs) -> methods.ContrastiveModel:
    """The method called ``name`` (a key of ``METHODS``) around ``encoder``."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.")
    return METHODS[name](encoder, **kwargs)


NO_WEIGHT_DECAY = ("bias", "gamma", "beta")  # biases and batch-norm scales and shifts


def method_default(method: str, argument: str):
    """The default of ``argument`` in method ``method``'s constructor (e.g. MoCo's ``temperature``),
    ``None`` where the method (or a non-method such as ``"supervised"``) has no such argument."""
    import inspect

    if method not in METHODS:
        return None
    parameter = inspect.signature(METHODS[method]).parameters.get(argument)
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def decay_only_weights(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """``optimizer`` with weight decay on the kernels of convolutions and dense layers only, not on
    biases nor batch-norm scales and shifts (``NO_WEIGHT_DECAY``), as the reference code of SimCLR,
    MoCo and solo-learn does: decaying a batch-norm scale shrinks a layer's output for nothing."""
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer


OPTIMIZERS = ("adamw", "sgd")


def base_optimizer(name: str, learning_rate, weight_decay: float) -> keras.optimizers.Optimizer:
    """The optimizer called ``name`` with weight decay on the weights only (``decay_only_weights``).

    ``"adamw"`` (the course's default) divides each gradient by a running estimate of its own size,
    so a uniform scale of the loss barely changes its steps; ``"sgd"`` (momentum 0.9, Nesterov)
    steps in proportion to the gradient, so such a scale acts as a learning rate (chapter 7).
    ``learning_rate`` is a number or a schedule.
    """
    if name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    else:
        raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}, "
                         f"e.g. profile.replace(optimizer='sgd', learning_rate=0.3).")
    return decay_only_weights(optimizer)


def make_optimizer(profile: Profile, steps_per_epoch: int, epochs: int | None = None) -> keras.optimizers.Optimizer:
    """``profile.optimizer`` (``base_optimizer``) with linear warm-up to ``profile.learning_rate``
    and cosine decay to 0 over ``epochs`` (default: the profile's)."""
    total = max(1, (epochs or profile.epochs) * steps_per_epoch)
    warmup = min(total - 1, int(profile.warmup_epochs * steps_per_epoch))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else profile.learning_rate,
        decay_steps=total - warmup, warmup_target=profile.learning_rate if warmup else None, warmup_steps=warmup,
    )
    return base_optimizer(profile.optimizer, schedule, profile.weight_decay)


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
        "cpu_flags": precision.speed_flags(),
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


def train(
    method: str,
    profile: Profile,
    train_data: tuple[np.ndarray, np.ndarray | None],
    test_data: tuple[np.ndarray, np.ndarray] | None,
    encoder: str | keras.Model | None = None,
    augment_layer: keras.layers.Layer | None = None,
    epochs: int | None = None,
    seed: int = 0,
    callbacks: list[keras.callbacks.Callback] = (),
    verbose: int | str = 0,
    knn_every: int | None = 1,
    backup_dir: str | os.PathLike | None = None,
    **method_kwargs,
) -> tuple[methods.ContrastiveModel, dict[str, list[float]]]:
    """Pretrain ``method`` on ``train_data`` images with ``profile``'s recipe; the chapters' one training call.

    The encoder and the method are built under ``profile.precision`` (``clr_lib.precision``).
    ``train_data`` and ``test_data`` are ``(images, labels)``; the labels only feed the kNN
    monitor, which writes ``val_knn_acc`` (weighted kNN of the encoder's features on
    ``test_data``) after every ``knn_every`` epochs (``None``: after the last epoch only, for short
    runs where only the end counts), next to ``loss`` and ``wall_time`` (seconds since the start).
    Images without labels (your own: ``train_data=(images, None)``, or ``test_data=None``) train
    without the monitor, and the history has no ``val_knn_acc``. ``"supcon"`` trains on the labels too.
    ``augment_layer`` defaults to the profile's SimCLR augmentation, ``encoder`` to the profile's,
    ``epochs`` to ``profile.epochs``; ``method_kwargs`` go to the method (e.g.
    ``temperature=0.2``). Returns the trained model and its per-epoch history.

    With ``backup_dir`` (e.g. a folder on Google Drive in Colab), a checkpoint and the history so far
    are saved there after every epoch (``keras.callbacks.BackupAndRestore``). Calling ``train``
    again with the same folder and settings after an interruption resumes after the last finished
    epoch and returns the whole history; other settings are refused with the ones that differ.
    The folder's run files are deleted when the run ends. A resumed run draws fresh views for the
    remaining epochs (as ``pretrain`` does), so it is reproducible, not identical to an unbroken one.
    """
    x, y = train_data
    uses_labels = getattr(METHODS.get(method), "uses_labels", False)
    if uses_labels and y is None:
        raise ValueError(f"{method} learns from labels: pass train_data=(images, labels).")
    epochs = epochs or profile.epochs
    keras.utils.set_random_seed(seed)  # first the encoder, as random_encoder builds it
    with precision.policy(profile.precision):
        if not isinstance(encoder, keras.Model):
            encoder = profile_encoder(profile, encoder)
        model = build_method(method, encoder, **{**profile.method_settings.get(method, {}), **method_kwargs})
    done, backup_callbacks = 0, []
    if backup_dir is not None:
        done, backup_callbacks = _backups(Path(backup_dir), run_folder.settings(
            method, encoder.name, profile.replace(epochs=epochs), seed, method_kwargs, _fingerprint(x)))
    views_seed = _epoch_seed(seed, done)
    if augment_layer is None:
        augment_layer = augment.simclr_augment(strength=profile.jitter_strength, crop_scale=profile.crop_scale,
                                               image_size=profile.view_size, seed=views_seed)
    pairs = pipeline.pretraining_dataset(x, profile.batch_size, augment_layer, seed=views_seed,
                                         labels=y if uses_labels else None)
    model.compile(optimizer=make_optimizer(profile, len(x) // profile.batch_size, epochs),
                  steps_per_execution=profile.steps_per_execution)
    monitor = [] if y is None or test_data is None else [
        KNNMonitor(x, y, *test_data, every=knn_every or epochs, k=profile.knn_k, temperature=profile.knn_temperature)]
    history = model.fit(pairs, epochs=epochs, callbacks=[*monitor, _Timer(), *callbacks, *backup_callbacks],
                        verbose=verbose).history
    if backup_callbacks:
        history = backup_callbacks[0].history  # the epochs before the interruption included
        run_folder.remove_run(Path(backup_dir))
    return model, history


def train_classifier(
    profile: Profile,
    train_data: tuple[np.ndarray, np.ndarray],
    epochs: int,
    augment_layer: keras.layers.Layer | None = None,
    encoder: keras.Model | None = None,
    seed: int = 0,
    learning_rate: float | None = None,
    num_classes: int = 10,
    head: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train an encoder plus a linear layer with cross-entropy on ``train_data = (images, labels)``.

    The supervised counterpart of ``train``: the profile's batch size and optimizer schedule
    (``make_optimizer``, at ``learning_rate`` if given, e.g. a smaller one to fine-tune), the
    profile's precision, ``epochs`` epochs, each batch augmented by ``augment_layer`` (none if
    ``None``). ``encoder`` defaults to a new one of the profile's, seeded as ``train`` seeds it;
    pass a pretrained encoder to fine-tune it (its weights are trained in place). ``head`` is the
    linear layer's starting ``(kernel (D, classes), bias (classes,))``, e.g. a fitted linear probe's
    (``few_labels.probe_head``); by default it is newly initialised. Returns the
    classifier (``classifier.layers`` share the encoder's) and its per-epoch history (``loss``,
    ``accuracy``, ``wall_time``).
    """
    x, y = train_data
    keras.utils.set_random_seed(seed)
    if learning_rate is not None:
        profile = profile.replace(learning_rate=learning_rate)
    with precision.policy(profile.precision):
        classifier = methods.supervised_classifier(encoder or profile_encoder(profile), num_classes)
    if head is not None:
        logits = classifier.get_layer("logits")
        shapes = [tuple(w.shape) for w in logits.get_weights()]
        if [np.shape(w) for w in head] != shapes:
            raise ValueError(f"head must be (kernel, bias) of shapes {shapes}, got {[np.shape(w) for w in head]}.")
        logits.set_weights([np.asarray(w, dtype="float32") for w in head])
    steps_per_epoch = -(-len(x) // profile.batch_size)  # the last batch may be partial
    classifier.compile(make_optimizer(profile, steps_per_epoch, epochs),
                       keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                       steps_per_execution=profile.steps_per_execution)
    batches = pipeline.labeled_dataset(x, y, profile.batch_size, augment=augment_layer, seed=seed)
    history = classifier.fit(batches, epochs=epochs, callbacks=[_Timer()], verbose=0).history
    return classifier, history


def simclr_reference(
    profile: Profile,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray],
    temperature: float,
    chapter: str = "05_simclr",
    folder: str | os.PathLike = "results",
) -> dict:
    """SimCLR's main run, the reference chapters 6 to 8 compare their method with: chapter 5's
    (``results.recorded_main_run``) when this runtime recorded it with the same profile, images and
    ``temperature``, so it is not trained twice; otherwise trained here with seed 0, as chapter 5 does.

    Returns ``{"knn_top1", "history" (None when reused from a record without one), "minutes" (of
    training done here), "source"}``,
    ``source`` a phrase for the text: ``"chapter 5's run"`` or ``"trained here"``.
    """
    reused = results.recorded_main_run(chapter, "simclr", profile, len(train_data[0]), temperature, folder)
    if reused is not None:
        return {"knn_top1": reused["knn_top1"], "history": reused["history"], "minutes": 0.0,
                "source": f"chapter {int(chapter.split('_')[0])}'s run"}
    _, history = train("simclr", profile, train_data, test_data, seed=0, temperature=temperature)
    return {"knn_top1": float(history["val_knn_acc"][-1]), "history": history,
            "minutes": history["wall_time"][-1] / 60, "source": "trained here"}


def simclr_study(
    profile: Profile,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray],
    variants: tuple[str, ...] = ("crop+color", "crop"),
    chapter: str = "03_augmentations",
    folder: str | os.PathLike = "results",
) -> dict:
    """Short SimCLR runs with the augmentation ``variants`` (``augment.simclr_variant``) and random
    encoders, one per seed of ``profile.seeds``, as chapter 3's ablation makes them: SimCLR at the
    profile's temperature, ``profile.epochs`` epochs on ``train_data``. Reused from chapter 3's record
    (``results.recorded_study``) when this runtime made the same study there, so that a later
    chapter comparing its method with SimCLR does not train these runs twice; trained here otherwise.

    Returns ``{"knn": {variant: [accuracy per seed]}, "random": [accuracy per seed], "minutes"
    (training done here), "source"}``, ``source`` ``"chapter 3's runs"`` or ``"trained here"``.
    """
    seeds = list(profile.seeds)
    record = results.recorded_study(chapter, profile, len(train_data[0]), len(test_data[0]), seeds, folder)
    if record is not None and all(name in record["ablation"] for name in variants):
        return {"knn": {name: [run["knn"] for run in record["ablation"][name]["runs"]] for name in variants},
                "random": list(record["random_encoder_knn"]), "minutes": 0.0,
                "source": f"chapter {int(chapter.split('_')[0])}'s runs"}
    knn, minutes = {name: [] for name in variants}, 0.0
    for seed in seeds:
        for name in variants:
            layer = augment.simclr_variant(name, strength=profile.jitter_strength, crop_scale=profile.crop_scale,
                                           image_size=profile.view_size or train_data[0].shape[1], seed=seed)
            _, history = train("simclr", profile, train_data, test_data, augment_layer=layer, seed=seed, knn_every=None)
            knn[name].append(float(history["val_knn_acc"][-1]))
            minutes += history["wall_time"][-1] / 60
    return {"knn": knn, "random": random_encoder_knn(profile, train_data, test_data, seeds), "minutes": minutes,
            "source": "trained here"}


def _fingerprint(images: np.ndarray) -> str:
    """A cheap identity of a training set: its shape and a hash of every 64th image."""
    import hashlib

    sample = np.ascontiguousarray(images[:: max(1, len(images) // 64)])
    return f"{images.shape} {hashlib.sha1(sample.tobytes()).hexdigest()[:16]}"


def _backups(out: Path, started: dict) -> tuple[int, list[keras.callbacks.Callback]]:
    """The epochs already done in ``out`` and the callbacks that keep backing the run up there."""
    if (out / run_folder.MARKER).is_file() and not (out / run_folder.BACKUP / "training_metadata.json").is_file():
        run_folder.remove_run(out)  # stopped before its first epoch ended: nothing to resume
    if (out / run_folder.MARKER).is_file():
        try:
            done, history = run_folder.resume_point(out, started)
        except (ValueError, FileNotFoundError) as error:
            raise type(error)(f"{error} From a notebook: pass the settings the run started with, or delete "
                              f"{out} (or pass another backup_dir) to start over.") from None
    else:
        run_folder.check_folder(out, "new")
        out.mkdir(parents=True, exist_ok=True)
        results.write_json(out / run_folder.MARKER, started)
        done, history = 0, {}
    return done, _backup_callbacks(out, history)


def _backup_callbacks(out: Path, history: dict[str, list[float]]) -> list[keras.callbacks.Callback]:
    """The history so far (``_History``, first) and ``BackupAndRestore``, both into ``out/backup``."""
    return [_History(out / run_folder.BACKUP / "history.json", history),
            keras.callbacks.BackupAndRestore(str(out / run_folder.BACKUP), double_checkpoint=True,
                                             delete_checkpoint=False)]


def profile_encoder(profile: Profile, name: str | None = None) -> keras.Model:
    """A new, untrained encoder ``name`` (default: the profile's) for the profile's views: any
    image size when the profile crops views of ``view_size`` pixels, 32 x 32 otherwise."""
    shape = (None, None, 3) if profile.view_size else (32, 32, 3)
    return models.get_encoder(name or profile.encoder, input_shape=shape)


def random_encoder(profile: Profile, seed: int) -> keras.Model:
    """The profile's encoder before any training, initialised as ``train`` initialises it with ``seed``:
    the baseline every chapter measures a method against (its kNN: ``random_encoder_knn``)."""
    keras.utils.set_random_seed(seed)
    with precision.policy(profile.precision):
        return profile_encoder(profile)


def random_encoder_knn(
    profile: Profile,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray],
    seeds: list[int] | tuple[int, ...] | None = None,
) -> list[float]:
    """The kNN accuracy of ``random_encoder``, one value per seed (default: ``profile.seeds``).

    ``knn_accuracy`` (the profile's ``k`` and temperature) classifies the ``test_data`` images by
    their neighbours among the ``train_data`` images, the same protocol as ``train``'s kNN
    monitor. Several seeds, because a random network's accuracy varies from one initialisation
    to the next by about a point.
    """
    (x, y), (x_test, y_test) = train_data, test_data
    accuracies = []
    for seed in profile.seeds if seeds is None else seeds:
        encoder = random_encoder(profile, seed)
        accuracies.append(float(evaluation.knn_accuracy(
            evaluation.extract_features(encoder, x), y, evaluation.extract_features(encoder, x_test), y_test,
            profile.knn_k, profile.knn_temperature)))
    return accuracies


def _epoch_seed(seed: int, start_epoch: int) -> int:
    """The seed of a run's shuffles and views from epoch ``start_epoch`` (0-based) on.

    ``seed`` itself for a new run; for a resumed one a seed derived from both, so the epochs after
    the resume draw new views instead of replaying the first epochs' (each new dataset starts its
    random stream afresh).
    """
    return seed if start_epoch == 0 else int(np.random.SeedSequence([seed, start_epoch]).generate_state(1)[0])


class _History(keras.callbacks.Callback):
    """The run's per-epoch history, earlier epochs included, saved atomically to ``path`` after every epoch.

    Placed before ``BackupAndRestore``, so the saved history is never behind the backed-up
    weights; ``wall_time`` goes on from the last recorded value.
    """

    def __init__(self, path: Path, history: dict[str, list[float]]):
        super().__init__()
        self.path, self.history = path, {key: list(values) for key, values in history.items()}
        self.offset = self.history["wall_time"][-1] if self.history else 0.0

    def on_epoch_end(self, epoch, logs=None):
        logs["wall_time"] += self.offset
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        results.write_json(self.path, {"epochs": self.history})


def _check_settings(method: str, encoder: str, profile: Profile, seed: int, method_kwargs: dict) -> None:
    """Fail on a bad name or setting before any file or data is touched."""
    build_method(method, models.get_encoder(encoder), **{**profile.method_settings.get(method, {}), **method_kwargs})
    if profile.epochs < 1 or profile.batch_size < 2:
        raise ValueError(f"epochs must be >= 1 and the batch size >= 2, got {profile.epochs} and {profile.batch_size}.")
    if not 0 <= seed < 2**32:
        raise ValueError(f"the seed must be between 0 and 2**32 - 1, got {seed}.")


def _write_results(out: Path, model: methods.ContrastiveModel, metrics: dict) -> None:
    """The encoder, the curves, then ``metrics.json`` (whose presence marks a finished run), each atomically."""
    import matplotlib.pyplot as plt

    from clr_lib import viz

    results.replace_atomically(out / "encoder.keras", model.encoder.save, suffix=".tmp.keras")
    figure = viz.training_curves(metrics["epochs"], metrics=["loss", "val_knn_acc"])
    results.replace_atomically(out / "training.png", partial(figure.savefig, dpi=100, format="png"))
    plt.close(figure)
    results.write_json(out / "metrics.json", metrics)


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
    epoch, profile, versions, hardware, the data's ``data.source_fingerprint()``) and
    ``out/training.png``; returns the metrics. ``mode`` says what to do with a run already in
    ``out``: ``"new"`` refuses any non-empty folder; ``"resume"`` continues an interrupted run
    started with the same settings (method, encoder, profile, seed, ``method_kwargs``, data), or
    finishes writing one that stopped after its last epoch; ``"replace"`` deletes the run's own
    files and starts over, keeping any other file, and refuses a folder that holds no run.
    """
    out = Path(out)
    encoder_name = encoder or profile.encoder
    _check_settings(method, encoder_name, profile, seed, method_kwargs)
    run_folder.check_folder(out, mode)
    (x, y), (x_test, y_test) = load_data(profile, seed)
    if profile.batch_size > len(x):
        raise ValueError(f"the batch size {profile.batch_size} is larger than the {len(x)} training images of "
                         f"profile {profile.name!r}: choose at most {len(x)}.")
    settings = run_folder.settings(method, encoder_name, profile, seed, method_kwargs, data.source_fingerprint())
    done, history = run_folder.resume_point(out, settings) if mode == "resume" else (0, {})
    if mode != "resume":  # everything checked: only now may the old run go
        run_folder.remove_run(out)
        out.mkdir(parents=True, exist_ok=True)
        results.write_json(out / run_folder.MARKER, settings)
    logger, backup = _backup_callbacks(out, history)
    model, _ = train(method, profile, (x, y), (x_test, y_test), encoder_name, seed=_epoch_seed(seed, done),
                     callbacks=[logger, backup], verbose=verbose, **method_kwargs)
    metrics = {
        "method": method, "encoder": encoder_name, "method_config": {
            k: v for k, v in model.get_config().items() if k not in {"encoder", "name", "trainable", "dtype"}
        },
        "profile": dataclasses.asdict(profile), "seed": seed,
        "train_images": int(len(x)), "test_images": int(len(x_test)),
        "epochs": logger.history, "data_fingerprint": settings["data_fingerprint"],
        "environment": environment(),
    }
    _write_results(out, model, metrics)
    run_folder.remove_backup(out)  # last: until the results are written, a resume can still finish the run
    return metrics


def _load_encoder(path: Path) -> keras.Model:
    """The encoder saved in ``path``; a damaged archive is a ``ValueError`` that says so (Keras: "File not found")."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip() is not None
    except (OSError, zipfile.BadZipFile):
        damaged = True
    if damaged:
        raise ValueError(f"{path} is corrupt (truncated or damaged, not a readable .keras archive): restore it "
                         "from a copy, or pretrain the run again with --replace.")
    return keras.models.load_model(path)


def _check_source(run: Path, recorded: dict) -> None:
    """Refuse to measure a run on other data than it was pretrained on."""
    used, current = recorded.get("data_fingerprint"), data.source_fingerprint()
    if used is not None and used != current:  # runs written before fingerprints were recorded are not checked
        source = os.environ.get(data.DATA_DIR_VAR, "").strip()
        raise ValueError(
            f"{run} was pretrained on other data (fingerprint {used}, recorded as "
            f"{recorded.get('environment', {}).get('data', '?')}) than the current source "
            f"({f'{data.DATA_DIR_VAR}={source}' if source else 'keras.datasets.cifar10'}, fingerprint {current}): "
            f"point {data.DATA_DIR_VAR} at the data the run used."
        )


def evaluate(run: str | os.PathLike, profile: Profile | None = None) -> dict:
    """kNN and linear-probe accuracy of a finished run's encoder, on the run's own data subsets.

    Refuses when the data source (``$CLR_DATA_DIR``) is not the one the run recorded; writes
    ``run/evaluation.json``.
    """
    run = Path(run)
    if not (run / "metrics.json").exists() or not (run / "encoder.keras").exists():
        raise FileNotFoundError(f"{run} is not a finished run (no metrics.json and encoder.keras there).")
    recorded = results.read_json(run / "metrics.json",
                                 "restore it from a copy, or pretrain the run again with --replace.")
    _check_source(run, recorded)
    if profile is None:
        try:
            profile = Profile(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded["profile"].items()})
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{run / 'metrics.json'} holds no profile this clr_lib can read ({error}): "
                             "pretrain the run again with --replace.") from None
    encoder = _load_encoder(run / "encoder.keras")
    (x, y), (x_test, y_test) = load_data(profile, recorded.get("seed", 0))
    result = evaluation.frozen_accuracy(encoder, (x, y), (x_test, y_test), profile.knn_k, profile.knn_temperature)
    result |= {"train_images": int(len(x)), "test_images": int(len(x_test))}
    results.write_json(run / "evaluation.json", result)
    return result
