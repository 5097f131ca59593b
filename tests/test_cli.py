"""``python -m clr_lib`` and ``benchmarks/budget.py`` end to end, on a small CIFAR-10-shaped image folder."""

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clr_lib import config, results
from clr_lib.__main__ import main, parser
from clr_lib.data import class_names, make_synthetic

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory):
    """An image folder in CIFAR-10's layout: 60 train and 30 test PNGs per class (enough for the smoke subsets)."""
    root = tmp_path_factory.mktemp("cifar")
    images, _ = make_synthetic(900, 32, num_classes=6, seed=0)
    i = 0
    for split, per_class in (("train", 60), ("test", 30)):
        for name in class_names:
            folder = root / split / name
            folder.mkdir(parents=True)
            for j in range(per_class):
                Image.fromarray(images[i % len(images)]).save(folder / f"{j:04d}.png")
                i += 1
    return root


def cli(*args, data_dir, cache, profile=None):
    env = {**os.environ, "CLR_DATA_DIR": str(data_dir), "CLR_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("CLR_PROFILE", None)
    if profile:
        env["CLR_PROFILE"] = profile
    return subprocess.run([sys.executable, "-m", "clr_lib", *args], capture_output=True, text=True, env=env, timeout=600)


def test_pretrain_evaluate_and_refuse_to_overwrite(fake_cifar, tmp_path):
    run = tmp_path / "runs" / "simclr-smoke"
    done = cli("pretrain", "--method", "simclr", "--profile", "smoke", "--out", str(run),
               data_dir=fake_cifar, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "kNN top-1" in done.stdout
    assert {p.name for p in run.iterdir()} == {".clr_run.json", "encoder.keras", "metrics.json", "training.png"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data_fingerprint"] == json.loads((run / ".clr_run.json").read_text())["data_fingerprint"]
    assert metrics["method"] == "simclr" and metrics["profile"]["name"] == "smoke"
    assert metrics["train_images"] == 512 and metrics["test_images"] == 256
    epochs = metrics["epochs"]
    assert len(epochs["loss"]) == len(epochs["val_knn_acc"]) == len(epochs["wall_time"]) == 1
    assert 0.0 <= epochs["val_knn_acc"][0] <= 1.0 and np.isfinite(epochs["loss"][0])
    assert metrics["environment"]["tensorflow"] and metrics["environment"]["data"].startswith("CLR_DATA_DIR=")

    before = (run / "metrics.json").read_bytes()
    again = cli("pretrain", "--method", "simclr", "--profile", "smoke", "--out", str(run),
                data_dir=fake_cifar, cache=tmp_path / "cache")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "--resume" in again.stderr and "--replace" in again.stderr
    assert (run / "metrics.json").read_bytes() == before  # nothing overwritten

    scored = cli("evaluate", str(run), data_dir=fake_cifar, cache=tmp_path / "cache")
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "kNN top-1" in scored.stdout and "linear probe top-1" in scored.stdout
    result = json.loads((run / "evaluation.json").read_text())
    assert 0.0 <= result["knn_top1"] <= 1.0 and 0.0 <= result["linear_probe_top1"] <= 1.0


@pytest.mark.parametrize(
    "args, profile, message",
    [
        (("pretrain", "--method", "byol", "--out", "x"), None, "invalid choice: 'byol'"),
        (("evaluate", "no/such/run"), None, "error: no/such/run is not a finished run"),
        (("pretrain", "--method", "simclr", "--out", "x"), "fastest", "Unknown profile 'fastest'"),
        (("pretrain", "--method", "simclr", "--profile", "smoke", "--epochs", "0", "--out", "x"), None, "--epochs must be"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, args, profile, message):
    result = cli(*args, data_dir=tmp_path, cache=tmp_path / "cache", profile=profile)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_budget_benchmark_prints_one_line_and_keeps_earlier_runs(fake_cifar, tmp_path):
    results = tmp_path / "budget.json"
    results.write_text(json.dumps({"earlier-run": {"knn_top1": 0.5}}))
    env = {**os.environ, "CLR_DATA_DIR": str(fake_cifar), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "budget.py"), "--method", "simclr", "--minutes", "0.1",
               "--widths", "8,16", "--projection", "32,16", "--batch-size", "64", "--view-size", "24",
               "--tag", "tiny", "--results", str(results)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.strip().splitlines()[-1]
    for field in ("tiny:", "method=simclr", "encoder=small_cnn", "images_seen=", "epochs=", "knn_top1=",
                  "linear_top1=", "wall=", "peak_mem="):
        assert field in line, line
    stored = json.loads(results.read_text())
    assert stored["earlier-run"] == {"knn_top1": 0.5}  # a new run is added, nothing else changes
    run = stored["tiny"]
    assert run["images_seen"] >= 64 and run["images_seen"] % 64 == 0
    assert run["evaluated_on"] == {"train": 600, "test": 300}
    assert 0.0 <= run["knn_top1"] <= 1.0 and 0.0 <= run["linear_probe_top1"] <= 1.0
    assert run["settings"]["minutes"] == 0.1 and len(run["curve"]["loss"]) >= 1


@pytest.fixture
def in_process(fake_cifar, tmp_path, monkeypatch):
    """The environment of ``main`` called in this process, on the fake folder."""
    monkeypatch.setenv("CLR_DATA_DIR", str(fake_cifar))
    monkeypatch.setenv("CLR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CLR_PROFILE", raising=False)


def run_main(capsys, *args) -> tuple[int, str]:
    """The exit code and stderr of ``python -m clr_lib ARGS``, run in this process."""
    code = main(list(args))
    return code, capsys.readouterr().err


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["SMOKE", "Book", "full"])
def test_profile_names_are_case_insensitive(name):
    args = parser().parse_args(["pretrain", "--method", "simclr", "--profile", name, "--out", "x"])
    assert args.profile == name.lower()


def test_out_must_be_a_real_folder(in_process, tmp_path, capsys):
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for out, message in (("a-file", "is a file, not a folder"), ("link", "is a symbolic link")):
        for flag in ((), ("--replace",), ("--resume",)):
            code, err = run_main(capsys, "pretrain", "--method", "simclr", "--profile", "smoke",
                                 "--out", str(tmp_path / out), *flag)
            assert code == 2 and message in err and "Traceback" not in err, err
    assert (tmp_path / "a-file").read_text() == "mine" and not any((tmp_path / "real").iterdir())


def test_replace_in_a_project_folder_deletes_nothing(in_process, tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "setup.py").write_text("setup()")
    (project / "src" / "module.py").write_text("x = 1")
    (project / "metrics.json").write_text('{"accuracy": 0.9}')  # someone else's: not a clr_lib run
    before = files(project)
    monkeypatch.chdir(project)
    code, err = run_main(capsys, "pretrain", "--method", "simclr", "--profile", "smoke", "--out", ".", "--replace")
    assert code == 2 and "holds no clr_lib run to replace" in err and "setup.py" in err, err
    assert files(project) == before


@pytest.fixture
def recorded_run(tmp_path):
    """A run folder as pretrain leaves it (its encoder a stand-in: these commands must fail before reading it)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / ".clr_run.json").write_text("{}")
    (run / "encoder.keras").write_bytes(b"PK not really a model")
    (run / "metrics.json").write_text(json.dumps({"method": "simclr", "profile": asdict(config.PROFILES["smoke"]),
                                                  "epochs": {"loss": [1.0]}, "seed": 0}))
    (run / "training.png").write_bytes(b"png")
    return run


@pytest.mark.parametrize("args, data, message", [
    (("--batch-size", "5000"), None, "batch size 5000 is larger than the 512 training images"),
    ((), "no/such/data", "does not exist"),
])
def test_replace_checks_the_command_before_deleting(in_process, recorded_run, monkeypatch, capsys, args, data,
                                                    message):
    if data:
        monkeypatch.setenv("CLR_DATA_DIR", data)
    before = files(recorded_run)
    code, err = run_main(capsys, "pretrain", "--method", "simclr", "--profile", "smoke", "--out", str(recorded_run),
                         "--replace", *args)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert files(recorded_run) == before


def test_evaluate_names_a_corrupt_encoder_or_metrics_file(in_process, recorded_run, capsys):
    code, err = run_main(capsys, "evaluate", str(recorded_run))
    assert code == 2 and f"{recorded_run / 'encoder.keras'} is corrupt" in err and "Traceback" not in err, err
    (recorded_run / "metrics.json").write_text('{"method": "simclr", "profile": {"na')  # cut off mid-write
    code, err = run_main(capsys, "evaluate", str(recorded_run))
    assert code == 2 and f"{recorded_run / 'metrics.json'} cannot be read as JSON" in err, err


def load_budget():
    spec = importlib.util.spec_from_file_location("budget", REPOSITORY / "benchmarks" / "budget.py")
    budget = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(budget)
    return budget


@pytest.mark.parametrize("minutes", ["0", "-1", "nan"])
def test_budget_refuses_a_budget_that_is_not_positive(minutes, monkeypatch, capsys):
    budget = load_budget()
    monkeypatch.setattr(budget.data, "load_cifar10", lambda: pytest.fail("loaded the data before checking --minutes"))
    with pytest.raises(SystemExit) as exit:
        budget.main(["--method", "simclr", "--minutes", minutes])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "positive, finite number of minutes" in err and "Traceback" not in err


@pytest.mark.parametrize("extra", [["--whiten", "-1"], ["--whiten", "2", "--encoder", "resnet18_cifar"]])
def test_budget_refuses_a_whitening_stem_it_cannot_build(extra, monkeypatch, capsys):
    budget = load_budget()
    monkeypatch.setattr(budget.data, "load_cifar10", lambda: pytest.fail("loaded the data before checking --whiten"))
    with pytest.raises(SystemExit) as exit:
        budget.main(["--method", "simclr", "--minutes", "1", *extra])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "--whiten" in err and "small_cnn only" in err and "Traceback" not in err


@pytest.mark.parametrize("content", ["not json", b"\xff\xfe", "[1, 2]", "folder", "file/inside.json"])
def test_budget_checks_the_results_file_before_training(content, tmp_path, monkeypatch, capsys):
    budget = load_budget()
    monkeypatch.setattr(budget.data, "load_cifar10", lambda: pytest.fail("trained before checking --results"))
    results = tmp_path / "results.json"
    if content == "folder":
        results.mkdir()
    elif content == "file/inside.json":
        (tmp_path / "file").write_text("")
        results = tmp_path / "file" / "inside.json"
    else:
        results.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SystemExit) as exit:
        budget.main(["--method", "simclr", "--minutes", "1", "--results", str(results)])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and f"--results {results}" in err and "Traceback" not in err, err


def test_the_book_s_twenty_minute_commands_are_budget_runs_of_the_book_recipe():
    budget, book = load_budget(), config.get_profile("book")
    parsed = {tag: budget.arguments(shlex.split(command)[2:])  # after "python benchmarks/budget.py"
              for tag, command in results.twenty_minute_runs(seed=1).items()}
    assert sorted(args.method for args in parsed.values()) == ["dcl", "moco", "nnclr", "simclr", "supervised"]
    assert book.encoder == "small_cnn_slim"  # widths 24-48-96-192
    for tag, args in parsed.items():
        assert args.tag == tag and args.seed == 1 and args.minutes == 20 and args.widths == "24,48,96,192"
        assert args.crop_min == book.crop_scale[0] and args.batch_size == book.batch_size
        assert (args.lr, args.weight_decay) == (book.learning_rate, book.weight_decay)
        if args.method == "supervised":
            assert args.view_size == 32  # crops and flips of full-size images, as chapter 1 trains
        else:
            assert (args.view_size, args.jitter) == (book.view_size, book.jitter_strength)
            assert args.temperature == book.method_settings.get(args.method, {}).get("temperature")


def load_fine_tune(monkeypatch):
    monkeypatch.syspath_prepend(str(REPOSITORY / "benchmarks"))  # it reads budget.py's results helpers
    spec = importlib.util.spec_from_file_location("fine_tune", REPOSITORY / "benchmarks" / "fine_tune.py")
    fine_tune = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fine_tune)
    return fine_tune


@pytest.mark.parametrize("problem, message", [
    ("no encoder", "is not a file: pretrain one with budget.py --save-encoder"),
    ("unknown run", "--pretrained 'other' is not a run in"),
    ("one seed", "--seeds at least 2"),
])
def test_fine_tune_refuses_what_it_cannot_use_before_loading_anything(problem, message, tmp_path, monkeypatch,
                                                                        capsys):
    fine_tune = load_fine_tune(monkeypatch)
    monkeypatch.setattr(fine_tune.data, "load_cifar10", lambda: pytest.fail("loaded the data before checking"))
    encoder, budget_file = tmp_path / "encoder.keras", tmp_path / "budget.json"
    if problem != "no encoder":
        encoder.write_bytes(b"")
    budget_file.write_text(json.dumps({"simclr-run": {"settings": {}}}))
    argv = ["--encoder", str(encoder), "--pretrained", "other" if problem == "unknown run" else "simclr-run",
            "--budget-results", str(budget_file), "--results", str(tmp_path / "fine_tune.json")]
    with pytest.raises(SystemExit) as exit:
        fine_tune.main(argv + (["--seeds", "0"] if problem == "one seed" else []))
    err = capsys.readouterr().err
    assert exit.value.code == 2 and message in err and "Traceback" not in err, err


def test_fine_tune_benchmark_records_every_protocol_of_a_saved_encoder(fake_cifar, tmp_path):
    env = {**os.environ, "CLR_DATA_DIR": str(fake_cifar), "TF_CPP_MIN_LOG_LEVEL": "3"}
    encoder, budget_file, fine_tune_file = tmp_path / "enc.keras", tmp_path / "budget.json", tmp_path / "ft.json"
    pretrain = [sys.executable, str(REPOSITORY / "benchmarks" / "budget.py"), "--method", "simclr", "--minutes", "0.05",
                "--widths", "8,16", "--projection", "32,16", "--batch-size", "64", "--view-size", "24",
                "--whiten", "2", "--tag", "tiny", "--results", str(budget_file), "--save-encoder", str(encoder)]
    done = subprocess.run(pretrain, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "fine_tune.py"), "--encoder", str(encoder),
               "--pretrained", "tiny", "--budget-results", str(budget_file), "--results", str(fine_tune_file),
               "--fractions", "0.1", "--seeds", "0,1", "--steps", "2", "--batch-size", "16", "--fine-tune-lr", "1e-3"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("tiny: 10% labels (60, ")
    run = json.loads(fine_tune_file.read_text())["tiny"]
    assert run["pretrained"] == "tiny" and run["pretrained_settings"]["widths"] == "8,16"
    assert run["pretrained_settings"]["whiten"] == 2  # the saved encoder, its frozen stem included, loads
    assert run["encoder_file"] == "enc.keras" and run["test_images"] == 300
    row = run["fractions"]["0.1"]
    assert row["labels"] == 60 and row["batch_size"] == 16
    for protocol in ("linear probe", "fine-tuned, learning rate 0.001", "probe, then fine-tuned, learning rate 0.0002",
                     "from scratch"):
        assert len(row[protocol]) == 2 and all(0.0 <= a <= 1.0 for a in row[protocol])
