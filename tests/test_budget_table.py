"""benchmarks/budget_table.py: the interpolated time to reach an accuracy, and the table's rows."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import budget_table  # noqa: E402

CURVE = {"train_seconds": [60.0, 120.0, 180.0], "knn_subset": [0.3, 0.5, 0.6]}


def test_minutes_to_reach_interpolates_between_epochs():
    assert budget_table.minutes_to_reach(CURVE, 0.4) == pytest.approx(1.5)  # half-way from 60 s to 120 s
    assert budget_table.minutes_to_reach(CURVE, 0.15) == pytest.approx(0.5)  # from 0 at the start
    assert budget_table.minutes_to_reach(CURVE, 0.6) == pytest.approx(3.0)
    assert budget_table.minutes_to_reach(CURVE, 0.61) is None


def _run(images, seconds, curve, cpu="Xeon"):
    return {"images_seen": images, "wall_seconds": seconds + 10, "load_seconds": 10, "epochs": images / 50_000,
            "knn_top1": 0.6, "linear_probe_top1": 0.65, "environment": {"cpu": cpu}, "settings": {}, "curve": curve}


def test_rows_give_speed_and_the_minutes_to_reach_the_reference():
    runs = {"ours": _run(600_000, 600, CURVE), "peer": _run(300_000, 600, {"train_seconds": [600.0], "knn_subset": [0.5]})}
    ours, peer = budget_table.rows(runs, ["ours", "peer"], reach="peer")
    assert ours == ["ours", "Xeon", "float32", "1,000", "12.0", "60.0%", "65.0%", "2.0"]
    assert peer[3] == "500" and peer[-1] == "-"
    with pytest.raises(SystemExit, match="no run 'missing'"):
        budget_table.rows(runs, ["missing"])
