"""The budget runs side by side, from ``benchmarks/results/budget.json``.

    python benchmarks/budget_table.py simclr-book-10min-fp32 simclr-book-10min-bf16 peer-kerasio-10min-seed0
    python benchmarks/budget_table.py simclr-book-10min-fp32 --reach peer-kerasio-10min-seed0

One row per run (``--tag`` of ``budget.py`` or ``peer_kerasio.py``): the CPU it ran on, its precision,
images per second of training, epochs, and the weighted-kNN and linear-probe top-1 on all test
images. ``--reach TAG`` adds, for every other run, the training minutes its kNN monitor took to
reach the monitor's last value in run ``TAG`` (both monitors read the same 10,000/2,000 subsets),
linearly interpolated between epochs: how many minutes a recipe needs for what the other got in
its whole budget. Compare runs only when they ran on the same CPU (the table says which).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from clr_lib import results

RESULTS = Path(__file__).parent / "results" / "budget.json"


def minutes_to_reach(curve: dict, target: float) -> float | None:
    """Training minutes at which ``curve`` (``train_seconds`` and ``knn_subset`` after every epoch)
    first reaches ``target``, interpolated linearly between epochs (from 0 at time 0 for the first);
    ``None`` when it never does."""
    seconds, accuracy = [0.0, *curve["train_seconds"]], [0.0, *curve["knn_subset"]]
    for i in range(1, len(seconds)):
        if accuracy[i] >= target:
            share = (target - accuracy[i - 1]) / (accuracy[i] - accuracy[i - 1])
            return (seconds[i - 1] + share * (seconds[i] - seconds[i - 1])) / 60
    return None


def rows(runs: dict, tags: list[str], reach: str | None = None) -> list[list[str]]:
    missing = [tag for tag in [*tags, *([reach] if reach else [])] if tag not in runs]
    if missing:
        raise SystemExit(f"no run {', '.join(map(repr, missing))} in the results file; it holds: {', '.join(runs)}")
    target = runs[reach]["curve"]["knn_subset"][-1] if reach else None
    table = []
    for tag in tags:
        run = runs[tag]
        speed = run["images_seen"] / (run["wall_seconds"] - run["load_seconds"])
        row = [tag, run["environment"]["cpu"], run["settings"].get("precision", "float32"), f"{speed:,.0f}",
               f"{run['epochs']:.1f}", f"{run['knn_top1']:.1%}", f"{run['linear_probe_top1']:.1%}"]
        if reach:
            minutes = minutes_to_reach(run["curve"], target)
            row.append("-" if tag == reach else "never" if minutes is None else f"{minutes:.1f}")
        table.append(row)
    return table


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    cli.add_argument("tags", nargs="+", help="runs of the results file")
    cli.add_argument("--reach", metavar="TAG", help="minutes each run needs to reach TAG's final monitor kNN")
    cli.add_argument("--results", type=Path, default=RESULTS)
    args = cli.parse_args(argv)
    runs = results.read_json(args.results, "it is written by benchmarks/budget.py")
    table = rows(runs, args.tags, args.reach)
    headers = ["run", "CPU", "precision", "images/s", "epochs", "kNN", "linear"]
    if args.reach:
        headers.append(f"minutes to {runs[args.reach]['curve']['knn_subset'][-1]:.1%} (monitor)")
    for line in [headers, *table]:
        print(" | ".join(line))


if __name__ == "__main__":
    main()
