"""The budget runs side by side, from ``benchmarks/results/budget.json``.

    python benchmarks/budget_table.py simclr-book-10min-fp32 simclr-book-10min-bf16 peer-kerasio-10min-seed0
    python benchmarks/budget_table.py simclr-book-10min-fp32 --reach peer-kerasio-10min-seed0
    python benchmarks/budget_table.py --results benchmarks/results/search_v3.json \
        --difference s10-wdt-seed1,s10-wdt-seed2 s10-book-seed1,s10-book-seed2

One row per run (``--tag`` of ``budget.py`` or ``peer_kerasio.py``): the CPU it ran on, its precision,
images per second of training, epochs, and the weighted-kNN and linear-probe top-1 on all test
images. ``--reach TAG`` adds, for every other run, the training minutes its kNN monitor took to
reach the monitor's last value in run ``TAG`` (both monitors read the same 10,000/2,000 subsets),
linearly interpolated between epochs: how many minutes a recipe needs for what the other got in
its whole budget. ``--difference A B`` compares two settings run with several seeds each (comma-
separated tags): the mean kNN and linear-probe top-1 of each, and A - B with its 95% interval
(Welch, ``evaluation.difference_interval``); a difference counts only when the interval excludes 0.
Compare runs only when they ran on the same CPU (the table says which).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from clr_lib import evaluation, notebook, results

RESULTS = Path(__file__).parent / "results" / "budget.json"


def _check_tags(runs: dict, tags: list[str]) -> None:
    missing = [tag for tag in tags if tag not in runs]
    if missing:
        raise SystemExit(f"no run {', '.join(map(repr, missing))} in the results file; it holds: {', '.join(runs)}")


def rows(runs: dict, tags: list[str], reach: str | None = None) -> list[list[str]]:
    _check_tags(runs, [*tags, *([reach] if reach else [])])
    target = runs[reach]["curve"]["knn_subset"][-1] if reach else None
    table = []
    for tag in tags:
        run = runs[tag]
        speed = results.images_per_second(run)
        row = [tag, run["environment"]["cpu"], run["settings"].get("precision", "float32"), f"{speed:,.0f}",
               f"{run['epochs']:.1f}", f"{run['knn_top1']:.1%}", f"{run['linear_probe_top1']:.1%}"]
        if reach:
            minutes = results.minutes_to_reach(run["curve"], target)
            row.append("-" if tag == reach else "never" if minutes is None else f"{minutes:.1f}")
        table.append(row)
    return table


def difference(runs: dict, setting: list[str], reference: list[str]) -> list[str]:
    """One line per metric: each setting's mean ± sd over its seeds, and setting - reference with
    its 95% interval (``evaluation.difference_interval``), in points."""
    _check_tags(runs, [*setting, *reference])
    lines = []
    for metric in ("knn_top1", "linear_probe_top1"):
        a, b = ([runs[tag][metric] for tag in tags] for tags in (setting, reference))
        d, low, high = evaluation.difference_interval(a, b)
        lines.append(f"{metric}: {notebook.mean_spread(a)} against {notebook.mean_spread(b)}; difference "
                     f"{100 * d:+.1f} points, 95% interval {100 * low:+.1f} to {100 * high:+.1f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    cli.add_argument("tags", nargs="*", help="runs of the results file")
    cli.add_argument("--difference", nargs=2, metavar=("A", "B"),
                     help="two settings, each as comma-separated tags of its seeds: A - B with its interval")
    cli.add_argument("--reach", metavar="TAG", help="minutes each run needs to reach TAG's final monitor kNN")
    cli.add_argument("--results", type=Path, default=RESULTS)
    args = cli.parse_args(argv)
    runs = results.read_json(args.results, "it is written by benchmarks/budget.py")
    if args.difference:
        print("\n".join(difference(runs, *(group.split(",") for group in args.difference))))
    if not args.tags:
        return
    table = rows(runs, args.tags, args.reach)
    headers = ["run", "CPU", "precision", "images/s", "epochs", "kNN", "linear"]
    if args.reach:
        headers.append(f"minutes to {runs[args.reach]['curve']['knn_subset'][-1]:.1%} (monitor)")
    for line in [headers, *table]:
        print(" | ".join(line))


if __name__ == "__main__":
    main()
