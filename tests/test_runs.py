"""``clr_lib.runs``: run folders that are never lost, resumed only as they were started, and read back safely.

The runs train in-process on the small image folder of ``test_cli.py`` with a tiny profile;
an interruption is an exception raised right after ``BackupAndRestore`` saved an epoch.
"""

import json
import random
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from test_cli import fake_cifar  # noqa: F401  (a fixture)

from clr_lib import augment, config, data, evaluation, models, pipeline, results, runs

PROFILE = config.get_profile("smoke").replace(epochs=3, train_size=128, test_size=64, batch_size=32, knn_k=10)


class Interrupted(Exception):
    """Stands for a kill: raised once an epoch is backed up."""


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links as their target path), by relative name."""
    return {str(p.relative_to(folder)): str(p.readlink()).encode() if p.is_symlink() else p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


@pytest.fixture(scope="module")
def data_env(fake_cifar, tmp_path_factory):  # noqa: F811
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLR_DATA_DIR", str(fake_cifar))
        patch.setenv("CLR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield patch


@pytest.fixture(scope="module")
def other_cifar(fake_cifar, tmp_path_factory):  # noqa: F811
    """The same image folder with one test image changed: other data, as far as a run is concerned."""
    other = tmp_path_factory.mktemp("other") / "cifar"
    shutil.copytree(fake_cifar, other)
    image = next((other / "test").rglob("*.png"))
    image.write_bytes(image.read_bytes() + b"\0")
    return other


def interrupt_after(patch, epoch: int | None = None) -> list[int]:
    """Stop training right after epoch ``epoch`` (0-based; None: never) is backed up; returns the epochs backed up."""
    original, backed_up = keras.callbacks.BackupAndRestore.on_epoch_end, []

    def on_epoch_end(self, index, logs=None):
        original(self, index, logs)
        backed_up.append(index)
        if index == epoch:
            raise Interrupted

    patch.setattr(keras.callbacks.BackupAndRestore, "on_epoch_end", on_epoch_end)
    return backed_up


def spy_writes(patch) -> list[Path]:
    written, original = [], results.write_json
    patch.setattr(results, "write_json", lambda path, record: written.append(Path(path)) or original(path, record))
    return written


@pytest.fixture(scope="module")
def interrupted(data_env, tmp_path_factory):
    """A run of 3 epochs interrupted after the first, and the JSON files written meanwhile."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after(patch, 0)
        written = spy_writes(patch)
        with pytest.raises(Interrupted):
            runs.pretrain("simclr", PROFILE, out, verbose=0)
    return out, written


@pytest.fixture(scope="module")
def resumed(interrupted, tmp_path_factory):
    """The interrupted run, copied and resumed: its folder, metrics, seeds of its datasets, epochs trained, writes."""
    out = tmp_path_factory.mktemp("resumed") / "run"
    shutil.copytree(interrupted[0], out)
    backed_up_before = json.loads((out / "backup" / "history.json").read_text())["epochs"]
    seeds, dataset = [], pipeline.pretraining_dataset
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "pretraining_dataset",
                      lambda *args, seed=None, **kwargs: seeds.append(seed) or dataset(*args, seed=seed, **kwargs))
        trained = interrupt_after(patch)
        written = spy_writes(patch)
        metrics = runs.pretrain("simclr", PROFILE, out, mode="resume", verbose=0)
    return {"out": out, "metrics": metrics, "seeds": seeds, "trained": trained, "written": written,
            "before": backed_up_before}


def copy_of(folder: Path, tmp_path: Path) -> Path:
    shutil.copytree(folder, tmp_path / "run", symlinks=True)
    return tmp_path / "run"


def test_interrupted_run_keeps_its_backup_and_settings(interrupted):
    out, _ = interrupted
    assert sorted(p.name for p in out.iterdir()) == [".clr_run.json", "backup"]
    assert json.loads((out / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert len(json.loads((out / "backup" / "history.json").read_text())["epochs"]["loss"]) == 1
    settings = json.loads((out / ".clr_run.json").read_text())
    assert settings["method"] == "simclr" and settings["encoder"] == "small_cnn" and settings["seed"] == 0
    assert settings["profile"]["batch_size"] == 32 and settings["data_fingerprint"] == data.source_fingerprint()


def test_resumed_run_has_every_epoch_once_and_its_clock_goes_on(resumed):
    epochs = resumed["metrics"]["epochs"]
    assert resumed["trained"] == [1, 2]  # only the epochs after the interruption were trained
    assert {len(values) for values in epochs.values()} == {3}
    assert epochs["loss"][0] == resumed["before"]["loss"][0]  # epoch 1 comes from the backup
    assert epochs["wall_time"][0] == resumed["before"]["wall_time"][0]
    assert all(a < b for a, b in zip(epochs["wall_time"], epochs["wall_time"][1:]))
    stored = json.loads((resumed["out"] / "metrics.json").read_text())
    assert stored["epochs"] == epochs and stored["data_fingerprint"] == data.source_fingerprint()
    assert sorted(p.name for p in resumed["out"].iterdir()) == [".clr_run.json", "encoder.keras", "metrics.json",
                                                              "training.png"]  # backup removed, no temporaries


def test_resumed_epochs_draw_other_views_than_the_first(resumed, data_env):
    """The resumed dataset is seeded apart from the first, whose stream a new dataset would replay."""
    (resumed_seed,) = resumed["seeds"]
    assert resumed_seed != 0
    (x, _), _ = runs.load_data(PROFILE)
    first, again = (next(iter(pipeline.pretraining_dataset(x, 32, augment.simclr_augment(seed=s), seed=s)))[0]
                    for s in (0, resumed_seed))
    assert not np.allclose(first.numpy(), again.numpy())


def test_every_json_is_written_atomically(interrupted, resumed, data_env, tmp_path, monkeypatch):
    names = {p.name for p in interrupted[1] + resumed["written"]}
    assert {".clr_run.json", "history.json", "metrics.json"} <= names
    run = copy_of(resumed["out"], tmp_path)
    written = spy_writes(monkeypatch)
    monkeypatch.setattr(runs.evaluation, "frozen_accuracy", lambda *args: {"knn_top1": 0.5, "linear_probe_top1": 0.5})
    runs.evaluate(run)
    assert [p.name for p in written] == ["evaluation.json"]
    assert json.loads((run / "evaluation.json").read_text())["test_images"] == 64


def test_resume_finishes_a_run_killed_before_its_results(data_env, tmp_path, monkeypatch):
    out, profile = tmp_path / "run", PROFILE.replace(epochs=1)
    def killed(*args):
        raise Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(runs, "_write_results", killed)
        with pytest.raises(Interrupted):
            runs.pretrain("simclr", profile, out, verbose=0)
    backed_up = json.loads((out / "backup" / "history.json").read_text())["epochs"]
    trained = interrupt_after(monkeypatch)
    metrics = runs.pretrain("simclr", profile, out, mode="resume", verbose=0)
    assert trained == [] and metrics["epochs"] == backed_up and len(backed_up["loss"]) == 1
    assert {"encoder.keras", "metrics.json", "training.png"} <= {p.name for p in out.iterdir()}
    assert not (out / "backup").exists()


@pytest.mark.parametrize("change, key", [
    ({"method": "moco"}, "method"),
    ({"encoder": "small_cnn_slim"}, "encoder"),
    ({"seed": 1}, "seed"),
    ({"profile": PROFILE.replace(epochs=1)}, "profile.epochs"),  # as many epochs as are done: nothing left
    ({"profile": PROFILE.replace(batch_size=16)}, "profile.batch_size"),
    ({"temperature": 0.5}, "method_kwargs"),
])
def test_resume_refuses_other_settings(interrupted, data_env, tmp_path, change, key):
    out = copy_of(interrupted[0], tmp_path)
    before = snapshot(out)
    arguments = {"method": "simclr", "profile": PROFILE, "out": out, "mode": "resume", "verbose": 0} | change
    with pytest.raises(ValueError, match=f"started with other settings: .*{key}.*--replace"):
        runs.pretrain(**arguments)
    assert snapshot(out) == before


def test_resume_refuses_other_data(interrupted, data_env, other_cifar, tmp_path, monkeypatch):
    out = copy_of(interrupted[0], tmp_path)
    monkeypatch.setenv("CLR_DATA_DIR", str(other_cifar))
    with pytest.raises(ValueError, match="data_fingerprint"):
        runs.pretrain("simclr", PROFILE, out, mode="resume", verbose=0)


def test_resume_needs_a_backup(interrupted, resumed, data_env, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runs.pretrain("simclr", PROFILE, tmp_path / "missing", mode="resume")
    assert not (tmp_path / "missing").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="it is empty"):
        runs.pretrain("simclr", PROFILE, tmp_path / "empty", mode="resume")
    started = copy_of(interrupted[0], tmp_path)
    shutil.rmtree(started / "backup")  # stopped during its first epoch
    with pytest.raises(FileNotFoundError, match="no backup to resume from.*--replace"):
        runs.pretrain("simclr", PROFILE, started, mode="resume")
    with pytest.raises(FileExistsError, match="finished run; nothing to resume"):
        runs.pretrain("simclr", PROFILE, resumed["out"], mode="resume")


def test_replace_refuses_a_folder_without_a_run(data_env, tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "precious.txt").write_text("keep")
    (folder / "sub" / "more.csv").write_text("1,2")
    before = snapshot(folder)
    with pytest.raises(FileExistsError, match=r"no clr_lib run to replace.*precious.txt, sub/"):
        runs.pretrain("simclr", PROFILE, folder, mode="replace")
    with pytest.raises(FileExistsError, match=r"not empty \(it holds precious.txt, sub/\)"):
        runs.pretrain("simclr", PROFILE, folder)
    assert snapshot(folder) == before


@pytest.mark.parametrize("problem", ["batch size", "data"])
def test_replace_checks_everything_before_deleting(resumed, data_env, tmp_path, monkeypatch, problem):
    out = copy_of(resumed["out"], tmp_path)
    before = snapshot(out)
    profile = PROFILE.replace(batch_size=5000) if problem == "batch size" else PROFILE
    if problem == "data":
        monkeypatch.setenv("CLR_DATA_DIR", str(tmp_path / "no-such-data"))
    with pytest.raises((ValueError, FileNotFoundError), match="larger than the 128|does not exist"):
        runs.pretrain("simclr", profile, out, mode="replace")
    assert snapshot(out) == before


def test_evaluate_refuses_other_data(resumed, data_env, other_cifar, monkeypatch):
    monkeypatch.setenv("CLR_DATA_DIR", str(other_cifar))
    used, now = resumed["metrics"]["data_fingerprint"], data.source_fingerprint()
    with pytest.raises(ValueError, match=f"fingerprint {used}.*fingerprint {now}.*point CLR_DATA_DIR at the data"):
        runs.evaluate(resumed["out"])


# --- property: --replace and --resume delete only what clr_lib wrote ---------------------------------

USER_FILES = ["notes.txt", ".hidden", "encoder.keras.bak", "metrics.json~", "Training.PNG", "history.json",
              "latest.weights.h5", ".clr_run.json.orig", "sub/more.csv", "sub/deeper/metrics.json",
              "backup/notes.txt", "backup/sub/latest.weights.h5", "backup2/training_metadata.json",
              "training.png/inside.txt", "evaluation.json@", "link"]


def arrange(folder: Path, rng: random.Random, outside: Path) -> None:
    """Add a random choice of user files (random bytes; ``link``/``evaluation.json@``: links outside)."""
    for name in rng.sample(USER_FILES, rng.randint(1, 6)):
        if (folder / name.rstrip("@")).exists():
            continue
        if name in {"link", "evaluation.json@"}:
            target = outside / f"target-{rng.randrange(10**6)}"
            target.write_text("outside")
            (folder / name.rstrip("@")).symlink_to(target)
            continue
        path = folder / name
        if path.parent.exists() and not path.parent.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(0, 64)))


@pytest.fixture
def instant_training(monkeypatch):
    """``runs.train`` without training: the run's callbacks see the epochs left, the model is an untrained one."""
    model = runs.build_method("simclr", models.get_encoder("small_cnn"))

    def train(method, profile, train_data, test_data, encoder=None, seed=0, callbacks=(), verbose=0, **kwargs):
        logger = callbacks[0]
        for epoch in range(len(logger.history.get("loss", [])), profile.epochs):
            logger.on_epoch_end(epoch, {"loss": 1.0, "val_knn_acc": 0.1, "wall_time": 1.0})
        return model, {}

    monkeypatch.setattr(runs, "train", train)


def test_replace_and_resume_never_delete_a_file_clr_lib_did_not_write(interrupted, resumed, data_env,
                                                                       instant_training, tmp_path):
    rng = random.Random(0)
    for trial in range(6):
        for mode, source in (("replace", resumed["out"]), ("resume", interrupted[0]), ("replace", None)):
            out = tmp_path / f"{trial}-{mode}-{source is None}"
            if source:
                shutil.copytree(source, out)
            else:
                out.mkdir()
            outside = out.with_name(out.name + "-outside")
            outside.mkdir()
            arrange(out, rng, outside)
            own = set(snapshot(source)) if source else set()
            user = {name: content for name, content in snapshot(out).items() if name not in own}
            try:
                runs.pretrain("simclr", PROFILE, out, mode=mode, verbose=0)
            except (FileExistsError, FileNotFoundError, ValueError):
                pass  # refused: a link or a folder where the run writes a file, or no run at all
            after = snapshot(out)
            assert {name: after.get(name) for name in user} == user, (mode, sorted(user))
            assert all(p.read_text() == "outside" for p in outside.iterdir())


def test_weight_decay_shrinks_kernels_but_spares_biases_and_batch_norm():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    dense, norm = model.layers
    dense.bias.assign(np.ones(3, np.float32))  # zero would look spared even if decayed
    profile = config.get_profile("smoke").replace(learning_rate=0.1, weight_decay=0.5, warmup_epochs=0)
    optimizer = runs.make_optimizer(profile, steps_per_epoch=10, epochs=1)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_variables], model.trainable_variables)
    # AdamW with a zero gradient moves a weight only by its decay: w <- w - lr * wd * w (lr 0.1 at step 0)
    np.testing.assert_allclose(dense.kernel.numpy(), before[dense.kernel.path] * (1 - 0.1 * 0.5), rtol=1e-6)
    for spared in (dense.bias, norm.gamma, norm.beta):
        np.testing.assert_array_equal(spared.numpy(), before[spared.path])


@pytest.mark.parametrize("name, expected", [
    # one step from w = 0 with gradient 1 at learning rate 0.1 and no weight decay:
    ("sgd", -0.1 * (1 + 0.9)),  # Nesterov momentum 0.9: v = -lr g, w += m v - lr g
    ("adamw", -0.1),  # Adam's first step is lr * sign(g), whatever the gradient's size
])
def test_make_optimizer_steps_as_its_update_rule(name, expected):
    profile = config.get_profile("smoke").replace(optimizer=name, learning_rate=0.1, weight_decay=0.0, warmup_epochs=0)
    weights = keras.Variable(np.zeros(3, np.float32))
    for scale in (1.0, 10.0):  # SGD's step grows with the gradient, Adam's does not
        weights.assign(np.zeros(3, np.float32))
        optimizer = runs.make_optimizer(profile, steps_per_epoch=10, epochs=1)
        optimizer.apply([keras.ops.full((3,), scale)], [weights])
        np.testing.assert_allclose(weights.numpy(), expected * (scale if name == "sgd" else 1.0), rtol=1e-4)


def test_make_optimizer_names_the_choices_for_an_unknown_optimizer():
    with pytest.raises(ValueError, match="Unknown optimizer 'lars'.*adamw, sgd"):
        runs.make_optimizer(config.get_profile("smoke").replace(optimizer="lars"), steps_per_epoch=10)


def test_random_encoder_knn_measures_the_encoder_train_starts_from():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (96, 32, 32, 3), dtype=np.uint8), np.arange(96) % 4
    (x_train, y_train), (x_test, y_test) = (x[:64], y[:64]), (x[64:], y[64:])
    profile = PROFILE.replace(batch_size=32)
    initial = {}

    class Capture(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            initial["weights"] = [w.copy() for w in self.model.encoder.get_weights()]

    expected = []
    for seed in (0, 1):
        model, _ = runs.train("simclr", profile, (x_train, y_train), (x_test, y_test), epochs=1, seed=seed,
                              callbacks=[Capture()])
        for start, fresh in zip(initial["weights"], runs.random_encoder(profile, seed).get_weights()):
            np.testing.assert_array_equal(start, fresh)
        model.encoder.set_weights(initial["weights"])  # back to the weights before the first step
        features = [evaluation.extract_features(model.encoder, images) for images in (x_train, x_test)]
        expected.append(evaluation.knn_accuracy(features[0], y_train, features[1], y_test,
                                                profile.knn_k, profile.knn_temperature))
    measured = runs.random_encoder_knn(profile, (x_train, y_train), (x_test, y_test), seeds=(0, 1))
    np.testing.assert_allclose(measured, expected)
    assert all(isinstance(v, float) for v in measured)


def test_train_can_monitor_the_last_epoch_only():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), np.arange(64) % 4
    for knn_every, evaluated in ((1, 3), (None, 1)):
        _, history = runs.train("simclr", PROFILE, (x, y), (x[:32], y[:32]), epochs=3, knn_every=knn_every)
        assert len(history["loss"]) == 3 and len(history["val_knn_acc"]) == evaluated


class _Interrupt(Exception):
    pass


class _StopBefore(keras.callbacks.Callback):
    """Interrupts a run at the start of epoch ``epoch`` (0-based), as a runtime reset would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Interrupt


def test_train_with_a_backup_folder_resumes_after_the_last_finished_epoch(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), np.arange(64) % 4
    backup = tmp_path / "drive" / "ch5-main"
    with pytest.raises(_Interrupt):
        runs.train("simclr", PROFILE, (x, y), (x[:32], y[:32]), epochs=3, backup_dir=backup, callbacks=[_StopBefore(2)])
    saved = json.loads((backup / "backup" / "history.json").read_text())["epochs"]
    assert len(saved["loss"]) == 2  # two epochs finished before the interruption

    with pytest.raises(ValueError, match="temperature"):  # another run may not continue this one
        runs.train("simclr", PROFILE, (x, y), (x[:32], y[:32]), epochs=3, backup_dir=backup, temperature=0.7)

    epochs_run = []

    class Count(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs_run.append(epoch)

    _, history = runs.train("simclr", PROFILE, (x, y), (x[:32], y[:32]), epochs=3, backup_dir=backup,
                            callbacks=[Count()])
    assert epochs_run == [2]  # only the epoch that was missing
    assert len(history["loss"]) == 3 and history["loss"][:2] == saved["loss"]
    assert history["wall_time"][2] > history["wall_time"][1]  # the clock goes on from the backup
    assert not backup.exists() or not any(backup.iterdir())  # the run's files are gone once it ends


def test_method_default_reads_the_constructor():
    assert runs.method_default("moco", "queue_size") == 4096  # MoCo(queue_size=4096, temperature=0.2, ...)
    assert runs.method_default("moco", "temperature") == 0.2
    assert runs.method_default("simclr", "queue_size") is None  # SimCLR has no queue
    assert runs.method_default("supervised", "temperature") is None  # not a method of runs.METHODS


def test_simclr_reference_reuses_chapter_5s_run_and_trains_only_without_one(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), np.arange(64) % 4
    profile = PROFILE.replace(batch_size=32, epochs=1)
    trained = runs.simclr_reference(profile, (x, y), (x[:32], y[:32]), 0.2, folder=tmp_path)  # no file: trains
    assert trained["source"] == "trained here" and len(trained["history"]["loss"]) == 1
    assert trained["knn_top1"] == trained["history"]["val_knn_acc"][-1]
    assert trained["minutes"] == trained["history"]["wall_time"][-1] / 60
    main = {"epochs": 1, "batch_size": 32, "train_images": 64, "simclr_knn_top1": 0.123}
    record = {"encoder": profile.encoder, "temperature": 0.2, "main": main,
              "knn": {"k": profile.knn_k, "temperature": profile.knn_temperature}}
    results.save_chapter("05_simclr", record, profile, tmp_path)
    reused = runs.simclr_reference(profile, (x, y), (x[:32], y[:32]), 0.2, folder=tmp_path)
    assert reused == {"knn_top1": 0.123, "history": None, "minutes": 0.0, "source": "chapter 5's run"}
    retrained = runs.simclr_reference(profile, (x, y), (x[:32], y[:32]), 0.1, folder=tmp_path)  # other temperature
    assert retrained["source"] == "trained here"


def test_simclr_study_reuses_chapter_3s_runs_and_trains_them_only_without_them(tmp_path):
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), np.arange(64) % 4
    profile = PROFILE.replace(batch_size=32, epochs=1, seeds=(0,))
    trained = runs.simclr_study(profile, (x, y), (x[:32], y[:32]), folder=tmp_path)  # no record: trains
    assert trained["source"] == "trained here" and trained["minutes"] > 0
    assert set(trained["knn"]) == {"crop+color", "crop"} and all(len(v) == 1 for v in trained["knn"].values())
    # the same runs as chapter 3 trains them: the variant's augmentation with the run's seed
    layer = augment.simclr_variant("crop", strength=profile.jitter_strength, crop_scale=profile.crop_scale,
                                   image_size=32, seed=0)
    _, history = runs.train("simclr", profile, (x, y), (x[:32], y[:32]), augment_layer=layer, seed=0, knn_every=None)
    assert trained["knn"]["crop"] == [history["val_knn_acc"][-1]]
    assert trained["random"] == runs.random_encoder_knn(profile, (x, y), (x[:32], y[:32]), [0])
    record = {"encoder": profile.encoder, "epochs": 1, "batch_size": 32, "view_size": profile.view_size or 32,
              "train_images": 64, "test_images": 32, "seeds": [0], "random_encoder_knn": [0.25],
              "knn": {"k": profile.knn_k, "temperature": profile.knn_temperature},
              "ablation": {"crop": {"runs": [{"knn": 0.5}]}, "crop+color": {"runs": [{"knn": 0.6}]}}}
    results.save_chapter("03_augmentations", record, profile, tmp_path)
    reused = runs.simclr_study(profile, (x, y), (x[:32], y[:32]), folder=tmp_path)
    assert reused == {"knn": {"crop+color": [0.6], "crop": [0.5]}, "random": [0.25], "minutes": 0.0,
                      "source": "chapter 3's runs"}
    assert runs.simclr_study(profile, (x, y), (x[:32], y[:32]), variants=("color",), folder=tmp_path)["source"] == \
        "trained here"  # a variant chapter 3 did not record


def test_train_without_labels_trains_without_the_monitor():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    model, history = runs.train("simclr", PROFILE.replace(batch_size=32), (x, None), None, epochs=2)
    assert len(history["loss"]) == 2 and "val_knn_acc" not in history
    assert np.isfinite(history["loss"]).all() and int(model.optimizer.iterations.numpy()) == 4
