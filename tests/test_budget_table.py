"""benchmarks/budget_table.py: the interpolated time to reach an accuracy, and the table's rows."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import budget_table  # noqa: E402

from clr_lib import results  # noqa: E402

CURVE = {"train_seconds": [60.0, 120.0, 180.0], "knn_subset": [0.3, 0.5, 0.6]}


def test_minutes_to_reach_interpolates_between_epochs():
    assert results.minutes_to_reach(CURVE, 0.4) == pytest.approx(1.5)  # half-way from 60 s to 120 s
    assert results.minutes_to_reach(CURVE, 0.15) == pytest.approx(0.5)  # from 0 at the start
    assert results.minutes_to_reach(CURVE, 0.6) == pytest.approx(3.0)
    assert results.minutes_to_reach(CURVE, 0.61) is None


def _run(images, seconds, curve, cpu="Xeon", knn=0.6, linear=0.65):
    return {"method": "simclr", "images_seen": images, "wall_seconds": seconds + 10, "load_seconds": 10,
            "epochs": images / 50_000, "knn_top1": knn, "linear_probe_top1": linear, "peak_memory_mb": 1500.0,
            "environment": {"cpu": cpu}, "settings": {}, "curve": curve}


def test_rows_give_speed_and_the_minutes_to_reach_the_reference():
    runs = {"ours": _run(600_000, 600, CURVE), "peer": _run(300_000, 600, {"train_seconds": [600.0], "knn_subset": [0.5]})}
    ours, peer = budget_table.rows(runs, ["ours", "peer"], reach="peer")
    assert ours == ["ours", "Xeon", "float32", "1,000", "12.0", "60.0%", "65.0%", "2.0"]
    assert peer[3] == "500" and peer[-1] == "-"
    with pytest.raises(SystemExit, match="no run 'missing'"):
        budget_table.rows(runs, ["missing"])


def test_difference_gives_each_settings_spread_and_the_welch_interval():
    from clr_lib import evaluation

    runs = {"a1": _run(1, 1, CURVE, knn=0.62, linear=0.66), "a2": _run(1, 1, CURVE, knn=0.64, linear=0.67),
            "b1": _run(1, 1, CURVE, knn=0.60, linear=0.65), "b2": _run(1, 1, CURVE, knn=0.61, linear=0.66)}
    knn, linear = budget_table.difference(runs, ["a1", "a2"], ["b1", "b2"])
    d, low, high = evaluation.difference_interval([0.62, 0.64], [0.60, 0.61])
    assert knn == (f"knn_top1: 63.0% ± 1.4% against 60.5% ± 0.7%; difference {100 * d:+.1f} points, "
                   f"95% interval {100 * low:+.1f} to {100 * high:+.1f}")
    assert d == pytest.approx(0.025) and linear.startswith("linear_probe_top1: 66.5% ± 0.7% against 65.5% ± 0.7%")
    with pytest.raises(SystemExit, match="no run 'c1'"):
        budget_table.difference(runs, ["a1", "a2"], ["c1"])
