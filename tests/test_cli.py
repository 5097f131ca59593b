"""``python -m clr_lib`` and ``benchmarks/budget.py`` end to end, on a small CIFAR-10-shaped image folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
    assert {"encoder.keras", "metrics.json", "training.png"} <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
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
