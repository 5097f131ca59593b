"""Every method under tf.distribute.MirroredStrategy on two logical CPU devices takes the step of one device.

``mirrored_step.py`` runs in a subprocess (the CPU must be split before TensorFlow starts) and
reports, for each method, two real training steps (``fit`` and ``train_step``) on one device and
on two replicas from the same weights, with synchronised batch norm everywhere.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import method_cases
import pytest

METHODS = method_cases.NAMES


@pytest.fixture(scope="module")
def report() -> dict:
    script = Path(__file__).with_name("mirrored_step.py")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert sorted(report["methods"]) == sorted(METHODS)
    return report


def check_steps(method: dict) -> None:
    """The two steps of one method: one device's and two replicas' agree."""
    assert method["jit_compile"] is False
    for step in method["steps"]:
        assert math.isclose(step["loss_two"], step["loss_one"], rel_tol=1e-5), step
        assert step["update"] > 1e-3, step  # the comparison is not between zeros
        assert step["update_diff"] < 1e-4 * step["update"], step
        assert step["state_diff"] < 1e-4 * step["state"], step
        assert step["replica_spread"] == 0.0, step


@pytest.mark.parametrize("name", METHODS)
def test_two_replicas_take_the_step_of_one_device(report, name):
    """Same loss, same weight updates (the gradients, with SGD), same state (batch-norm statistics,
    queue, key encoder) after each of two steps; the replicas' copies identical."""
    check_steps(report["methods"][name])


def test_supcon_on_two_replicas_takes_the_step_of_one_device(report):
    """SupCon gathers the projections and labels of the whole global batch on every replica: the
    two steps match one device's, and each replica's loss is the global batch's L_out in NumPy
    (so the gradient of the gathered rows is not counted once per replica)."""
    check_steps(report["supcon"])
    replicas = report["supcon"]["per_replica"]
    for got in replicas["got"]:
        assert math.isclose(got, replicas["expected"], rel_tol=1e-5), replicas
    assert math.isclose(report["supcon"]["steps"][0]["loss_one"], replicas["expected"], rel_tol=1e-5)


@pytest.mark.parametrize("name", METHODS)
def test_each_replica_averages_the_loss_of_its_own_anchors(report, name):
    """A replica's loss is the mean of its own anchors' rows of the global batch (NumPy), not the
    whole batch's loss: the replicas differ, and their mean is the one-device loss."""
    replicas = report["per_replica"][name]
    for got, expected in zip(replicas["got"], replicas["expected"]):
        assert math.isclose(got, expected, rel_tol=1e-5), replicas
    assert abs(replicas["got"][0] - replicas["got"][1]) > 1e-3, replicas
    one_device = report["methods"][name]["steps"][0]["loss_one"]
    assert math.isclose(sum(replicas["got"]) / len(replicas["got"]), one_device, rel_tol=1e-5)


def test_compile_follows_the_model_strategy_and_warns_of_unsynchronised_batch_norm(report):
    """Built in the strategy's scope and compiled outside it: no XLA, and a warning only when
    batch norm is not synchronised; built and compiled without a strategy: XLA only on a GPU
    (these tests run on the CPU, where the plain graph is faster)."""
    decisions = report["compile"]
    assert decisions["synced"] == {"jit_compile": False, "warned": False}
    assert decisions["unsynced"] == {"jit_compile": False, "warned": True}
    assert decisions["single"] == {"jit_compile": False}
