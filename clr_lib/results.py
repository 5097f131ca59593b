"""The result files: every JSON the course writes or reads, through this one module.

Two kinds of committed JSON files hold measured numbers:

* ``benchmarks/results/budget.json`` (and the search files beside it): the CPU-budget runs of
  ``benchmarks/budget.py``, one entry per ``--tag`` (images seen, kNN and linear-probe top-1,
  wall time, peak memory, the accuracy-against-time curve, the machine); ``twenty_minute_runs``
  (the commands of the runs the book compares), ``load_budget``, ``runs_on_both_machines``,
  ``budget_summary``, ``images_per_second``, ``minutes_to_reach``;
* ``notebooks/results/<profile>/<stem>.json``: the headline numbers each chapter notebook writes
  (``save_chapter``; one folder per profile, so a ``smoke`` run never overwrites ``book``
  numbers) and later chapters read (``chapter_record``, ``supervised_baseline``).

Every file is written atomically (``write_json``, ``replace_atomically``) and read by
``read_json``: a missing, corrupt or foreign file raises an error that says how to produce it.

A chapter opened alone (in Colab, say) has neither folder. So the package ships the book's own
result files, ``clr_lib/reference/book/`` and ``clr_lib/reference/benchmarks/`` (copied there
by ``python3 tasks.py reference``; a test checks that they equal the committed files), and
``chapter_record`` and ``benchmark_file`` fall back to them, printing whose numbers they are.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

from clr_lib.config import Profile, hardware

BUDGET_KEYS = ("method", "images_seen", "knn_top1", "linear_probe_top1", "wall_seconds", "peak_memory_mb")


TWENTY_MINUTE_RECIPE = "--minutes 20 --widths 24,48,96,192 --view-size 24 --crop-min 0.35 --jitter 0.4"


def twenty_minute_runs(seed: int = 0) -> dict[str, str]:
    """The five 20-minute runs that chapter 9 and the CPU-budget appendix compare: tag -> the
    command, from the repository root, that produced it (the ``book`` recipe; SimCLR at its
    temperature 0.2, the other methods at their own; the supervised run on 32-pixel crops and flips)."""
    recipe = {"simclr": f"{TWENTY_MINUTE_RECIPE} --temperature 0.2", "dcl": TWENTY_MINUTE_RECIPE,
              "moco": TWENTY_MINUTE_RECIPE, "nnclr": TWENTY_MINUTE_RECIPE,
              "supervised": "--minutes 20 --widths 24,48,96,192 --view-size 32 --crop-min 0.35"}
    return {f"{method}-20min-seed{seed}":
            f"python benchmarks/budget.py --tag {method}-20min-seed{seed} --method {method} {arguments} --seed {seed}"
            for method, arguments in recipe.items()}


SECOND_MACHINE_SEED = {"simclr": 2, "dcl": 2, "moco": 1, "nnclr": 1, "supervised": 1}
"""Each method's 20-minute run on the book's second machine (a Xeon with AMX). Seed 0 of every
method ran on the first (a Xeon without AMX), and so did SimCLR's and DCL's seed 1."""


def machine_name(environment: Mapping) -> str:
    """A run's machine as the book prints it: ``"<CPU model>, flags <speed flags>"``."""
    return f"{environment['cpu']}, flags {' '.join(environment['cpu_flags'])}"


def runs_on_both_machines(path: str | os.PathLike, methods: tuple[str, ...] = tuple(SECOND_MACHINE_SEED)) -> dict:
    """Each method's two 20-minute runs from ``budget.json``: seed 0 and ``SECOND_MACHINE_SEED[method]``.

    Returns ``{method: [first, second]}`` in the order of ``methods``, each run its
    ``budget_summary`` with ``"seed"`` and ``"machine"`` (``machine_name``) added. Raises like
    ``load_budget`` (with the commands to run) when a run is missing.
    """
    unknown = [method for method in methods if method not in SECOND_MACHINE_SEED]
    if unknown:
        raise ValueError(f"no second-machine run is known for {', '.join(map(repr, unknown))}; "
                         f"the methods are {', '.join(SECOND_MACHINE_SEED)}.")
    seeds = {method: (0, SECOND_MACHINE_SEED[method]) for method in methods}
    wanted = {f"{method}-20min-seed{seed}": twenty_minute_runs(seed)[f"{method}-20min-seed{seed}"]
              for method in methods for seed in seeds[method]}
    stored = load_budget(path, wanted)
    return {method: [budget_summary(stored[f"{method}-20min-seed{seed}"])
                     | {"seed": seed, "machine": machine_name(stored[f"{method}-20min-seed{seed}"]["environment"])}
                     for seed in seeds[method]] for method in methods}


def load_budget(path: str | os.PathLike, runs: Mapping[str, str]) -> dict[str, dict]:
    """The entries ``runs`` names (tag -> the command that produces it) from a ``budget.json`` file.

    Returns ``{tag: entry}`` in the order of ``runs``. Raises ``FileNotFoundError`` when the file
    is missing and ``ValueError`` when a tag is not in it, both with the commands to run.
    """
    if not runs:
        raise ValueError("load_budget needs at least one run: {tag: command that produces it}.")
    commands = "\n".join(f"    {command}" for command in runs.values())
    stored = read_json(path, f"it holds the CPU-budget runs; produce them (about 20 minutes each) with:\n{commands}")
    missing = [tag for tag in runs if tag not in stored]
    if missing:
        commands = "\n".join(f"    {runs[tag]}" for tag in missing)
        raise ValueError(
            f"{path} has no run {', '.join(map(repr, missing))} (it has {', '.join(map(repr, stored)) or 'none'}). "
            f"Produce the missing runs with:\n{commands}"
        )
    return {tag: stored[tag] for tag in runs}


def _train_seconds(run: Mapping) -> float:
    train_seconds = float(run["wall_seconds"]) - float(run.get("load_seconds", 0.0))
    if not train_seconds > 0:
        raise ValueError(f"training time must be > 0 s, got wall_seconds - load_seconds = {train_seconds}.")
    return train_seconds


def images_per_second(run: Mapping) -> float:
    """The training speed of one budget run: ``images_seen / (wall_seconds - load_seconds)``, the
    images over the time the budget charged to training (``budget_summary`` says what that holds)."""
    return int(run["images_seen"]) / _train_seconds(run)


def budget_summary(run: Mapping) -> dict:
    """The numbers a comparison needs from one ``budget.json`` entry.

    ``train_seconds = wall_seconds - load_seconds``: the time ``budget.py`` charged to training
    (input pipeline and optimizer steps, not loading the data set nor the kNN monitor between
    epochs); ``images_per_second = images_seen / train_seconds``. ``peak_memory_mb`` is the
    process's peak resident memory (data set, TensorFlow and the model together);
    ``cores_used`` (``None`` if not recorded) is CPU seconds per second of training.
    """
    absent = [key for key in BUDGET_KEYS if key not in run]
    if absent:
        raise ValueError(f"a budget.json entry needs {', '.join(BUDGET_KEYS)}; this one lacks {', '.join(absent)}.")
    train_seconds = _train_seconds(run)
    return {
        "method": run["method"],
        "images_seen": int(run["images_seen"]),
        "epochs": float(run.get("epochs", float("nan"))),
        "train_seconds": train_seconds,
        "images_per_second": int(run["images_seen"]) / train_seconds,
        "knn_top1": float(run["knn_top1"]),
        "linear_probe_top1": float(run["linear_probe_top1"]),
        "peak_memory_mb": float(run["peak_memory_mb"]),
        "cores_used": run.get("training_cores_used"),
    }


def minutes_to_reach(curve: Mapping, target: float) -> float | None:
    """Training minutes at which a budget run's ``curve`` (``train_seconds`` and ``knn_subset`` after every epoch)
    first reaches ``target``, interpolated linearly between epochs (from 0 at time 0 for the first);
    ``None`` when it never does."""
    seconds, accuracy = [0.0, *curve["train_seconds"]], [0.0, *curve["knn_subset"]]
    for i in range(1, len(seconds)):
        if accuracy[i] >= target:
            share = (target - accuracy[i - 1]) / (accuracy[i] - accuracy[i - 1])
            return (seconds[i - 1] + share * (seconds[i] - seconds[i - 1])) / 60
    return None


def replace_atomically(path: str | os.PathLike, write: Callable[[str], object], suffix: str = ".tmp") -> Path:
    """``write(temporary)`` next to ``path``, then rename it to ``path``: a reader never sees half a
    file, and a failed write leaves the old file as it was (the temporary is ``.NAME.XXXXXXXX<suffix>``)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, record: Mapping) -> Path:
    """Write ``record`` as JSON to ``path`` atomically (``replace_atomically``), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return replace_atomically(path, lambda temporary: Path(temporary).write_text(
        json.dumps(record, indent=1, default=float) + "\n"))


def chapter_path(stem: str, profile: str, folder: str | os.PathLike = "results") -> Path:
    """Where a chapter's numbers live: ``folder/<profile>/<stem>.json`` (``profile`` is a name)."""
    return Path(folder) / profile / f"{stem}.json"


def save_chapter(stem: str, values: Mapping, profile: Profile, folder: str | os.PathLike = "results") -> Path:
    """Write a chapter's headline numbers, with the profile's name and this machine's hardware, to
    ``chapter_path(stem, profile.name, folder)`` (atomically), for the later chapters to read."""
    return write_json(chapter_path(stem, profile.name, folder),
                      {"profile": profile.name, "hardware": hardware(), **values})


def shipped(*parts: str) -> Path | None:
    """The copy of a result file shipped with the package, ``clr_lib/reference/<parts>``, or None."""
    path = Path(str(resources.files("clr_lib").joinpath("reference", *parts)))
    return path if path.is_file() else None


def _whose(record: Mapping) -> str:
    return f"profile {record.get('profile', 'book')!r}, measured on {record.get('hardware', 'the book machine')}"


def chapter_record(
    stem: str, profile: str, folder: str | os.PathLike = "results", notebook: str | None = None,
    fall_back: bool = True,
) -> dict:
    """The numbers a chapter notebook wrote to ``folder/<profile>/<stem>.json`` (``profile`` is a name).

    Where that file does not exist (a chapter opened alone, or one whose earlier chapter has not
    run in this profile), and ``fall_back``, the numbers shipped with the package are used (the
    ``book`` profile's, ``shipped``), with a printed note saying so. ``notebook`` (default
    ``<stem>.ipynb``) names the notebook that writes it, for that note and for the error when
    there is nothing to read; a file whose ``profile`` field names another profile is refused.
    """
    path = chapter_path(stem, profile, folder)
    notebook = notebook or f"{stem}.ipynb"
    run_it = f"CLR_PROFILE={profile} python3 tasks.py notebooks notebooks/{notebook}"
    reference = shipped("book", f"{stem}.json") if fall_back else None
    if not path.exists() and reference is not None:
        record = read_json(reference, "reinstall clr_lib")
        print(f"note: {path} does not exist here, so these are the numbers shipped with clr_lib ({_whose(record)}), "
              f"not this runtime's. To measure your own, run {notebook} first: {run_it}")
        return record
    record = read_json(path, f"no results of {notebook} for profile {profile!r} yet. Run that notebook first; it "
                             f"writes them: {run_it}")
    if record.get("profile", profile) != profile:
        raise ValueError(f"{path} holds the numbers of profile {record['profile']!r}, not {profile!r}.")
    return record


def _matching_record(stem: str, profile: Profile, folder: str | os.PathLike, **fields) -> dict | None:
    """Chapter ``stem``'s record in this runtime's ``folder`` (never the shipped copy), if it was made
    with this profile, its encoder and kNN protocol, and holds ``fields`` at its top level; else None."""
    path = chapter_path(stem, profile.name, folder)
    if not path.exists():
        return None
    record = read_json(path, f"run {stem}.ipynb again to rewrite it")
    wanted = {"profile": profile.name, "encoder": profile.encoder,
              "knn": {"k": profile.knn_k, "temperature": profile.knn_temperature}, **fields}
    return record if all(record.get(key) == value for key, value in wanted.items()) else None


def recorded_main_run(
    stem: str, method: str, profile: Profile, train_images: int, temperature: float,
    folder: str | os.PathLike = "results",
) -> dict | None:
    """The main run of ``method`` that chapter ``stem`` trained in this runtime, if it is the run
    the caller would train: its ``"main"`` entry holds ``method``'s history and was made with this
    profile's encoder, epochs, batch and kNN protocol, ``train_images`` images and ``temperature``.

    Returns ``{"knn_top1", "history", "chapter"}``, or ``None`` when there is no such run (no
    file, another profile's, other settings), and then the caller trains it. ``history`` is
    ``None`` when the chapter recorded only the run's final accuracy (``main["<method>_knn_top1"]``,
    as chapter 5 does). The copies shipped with the package are never used: a run to compare with
    must come from the same runtime.
    """
    record = _matching_record(stem, profile, folder, temperature=temperature)
    if record is None:
        return None
    main = record.get("main", {})
    if (main.get("epochs"), main.get("batch_size"), main.get("train_images")) != (
            profile.epochs, profile.batch_size, train_images):
        return None
    history = main.get("history", {}).get(method)
    knn = history["val_knn_acc"][-1] if history else main.get(f"{method}_knn_top1")
    return None if knn is None else {"knn_top1": float(knn), "history": history, "chapter": stem}


def recorded_study(
    stem: str, profile: Profile, train_images: int, test_images: int, seeds: list[int] | tuple[int, ...],
    folder: str | os.PathLike = "results",
) -> dict | None:
    """The short-run study chapter ``stem`` recorded in this runtime, if it is the study the caller
    would run: made with this profile's encoder, batch, view size and kNN protocol, its ``epochs``,
    ``train_images`` and ``test_images`` images and ``seeds`` (the record's top-level fields, as
    chapter 3 writes them).

    Returns the whole record (its ``"ablation"`` and ``"random_encoder_knn"``), or ``None`` when
    there is no such study, and then the caller runs it. As for :func:`recorded_main_run`, the
    copies shipped with the package are never used.
    """
    return _matching_record(stem, profile, folder, epochs=profile.epochs, batch_size=profile.batch_size,
                            view_size=profile.view_size or 32, train_images=train_images, test_images=test_images,
                            seeds=list(seeds))


def benchmark_file(name: str, folder: str | os.PathLike = "../benchmarks/results") -> Path:
    """``folder/name`` (a committed benchmark result such as ``budget.json``, seen from the notebooks),
    or, where the repository is not at hand, the copy shipped with the package (with a printed note)."""
    path = Path(folder) / name
    reference = shipped("benchmarks", name)
    if path.exists() or reference is None:
        return path
    print(f"note: {path} is not here, so {name} comes from the copy shipped with clr_lib (the book's own runs)")
    return reference


def supervised_baseline(profile: str, folder: str | os.PathLike = "results") -> dict:
    """Chapter 1's supervised reference numbers for ``profile`` (a name): its ``fractions`` map each
    fraction of the labels (``"1.0"``, ``"0.1"``, ``"0.01"``) to ``{"labels": n, "test_top1": ..., "knn_top1": ...}``."""
    return chapter_record("supervised_baseline", profile, folder, notebook="01_supervised_baseline.ipynb")


def reference_lines(record: Mapping, metric: str = "test_top1") -> dict[str, float]:
    """``{"supervised, 100% labels": value, ...}`` from ``supervised_baseline``'s record, for the
    ``baselines`` argument of ``viz.training_curves`` and ``viz.metric_bars``; ``metric`` is
    ``test_top1`` (the classifier) or ``knn_top1`` (kNN on the supervised encoder's features)."""
    lines = {}
    for fraction, numbers in sorted(record["fractions"].items(), key=lambda item: -float(item[0])):
        if metric not in numbers:
            raise ValueError(f"metric {metric!r} is not recorded; the record has {sorted(numbers)}.")
        lines[f"supervised, {float(fraction):.0%} labels"] = float(numbers[metric])
    return lines


def label_curve(record: Mapping, metric: str, key: str | None = None) -> dict[int, float]:
    """``{labelled images: accuracy}`` from a chapter record, for ``viz.label_efficiency``.

    The record holds a table ``{fraction of the labels: {"labels": n, metric: accuracy, ...}}``
    under ``key``; by default ``"label_efficiency"`` if present, else ``"fractions"`` (chapter 1's
    layout).
    """
    key = key or ("label_efficiency" if "label_efficiency" in record else "fractions")
    table = record.get(key)
    if not isinstance(table, Mapping) or not table:
        raise ValueError(
            f"the record has no label-efficiency table under {key!r} "
            "(expected {fraction: {'labels': n, metric: accuracy}}); its keys are " + ", ".join(map(repr, record))
        )
    curve = {}
    for fraction, numbers in table.items():
        if "labels" not in numbers or metric not in numbers:
            raise ValueError(f"entry {fraction!r} of {key!r} needs 'labels' and {metric!r}; it has {sorted(numbers)}.")
        curve[int(numbers["labels"])] = float(numbers[metric])
    return dict(sorted(curve.items()))


def read_json(path: str | os.PathLike, fix: str) -> dict:
    """The JSON object in ``path``. ``fix`` says what to do when it is not there or not usable: a
    missing file is a ``FileNotFoundError``, a corrupt one or one holding no JSON object a
    ``ValueError``, each naming the file and ``fix``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {fix}")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read as JSON, it is corrupt or truncated ({error}): {fix}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} holds no JSON object, so it is not a file clr_lib wrote: {fix}")
    return record
