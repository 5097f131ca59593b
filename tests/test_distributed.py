"""SimCLR under tf.distribute.MirroredStrategy on two logical CPU devices equals one device."""

import json
import math
import subprocess
import sys
from pathlib import Path


def test_mirrored_simclr_step_equals_single_device():
    script = Path(__file__).with_name("mirrored_step.py")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    # negatives gathered across replicas + synchronized batch norm: the global-batch loss and gradients
    assert math.isclose(report["loss_two"], report["loss_one"], rel_tol=1e-5)
    assert report["max_grad"] > 1e-4  # the comparison is not between zeros
    assert report["max_grad_diff"] < 1e-4 * report["max_grad"] + 1e-6, report
    assert set(report["fit"]) == {"simclr", "dcl", "moco", "nnclr"}
    assert all(math.isfinite(loss) for loss in report["fit"].values()), report["fit"]
