"""A run folder: what a pretraining run writes there, what it may delete, and where to resume it.

``clr_lib.runs.pretrain`` calls these. A run touches only the files it writes (``RUN_FILES``,
and ``BACKUP_FILES`` inside ``backup/``), and a folder is recognised as a run by its marker
``.clr_run.json`` (the settings the run started with), a clr_lib ``metrics.json`` or a backup.
Everything is checked before anything is deleted; files clr_lib did not write are never touched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from clr_lib.config import Profile
from clr_lib.results import read_json

MARKER = ".clr_run.json"  # the settings a run started with, written before its first epoch
BACKUP = "backup"
RUN_FILES = (MARKER, "encoder.keras", "training.png", "metrics.json", "evaluation.json")  # what a run folder holds
BACKUP_FILES = ("latest.weights.h5", "latest.weights.h5.bkp", "training_metadata.json",  # keras BackupAndRestore's
                "training_metadata.json.bkp", "history.json")
_TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]+\.tmp(?:\.keras)?")  # .NAME.XXXXXXXX.tmp, as results.write_json names them


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _own(name: str, names: Iterable[str]) -> bool:
    """Whether ``name`` is one of ``names`` or a temporary file of one of them."""
    match = _TEMPORARY.fullmatch(name)
    return name in names or bool(match and match.group(1) in names)


def _listing(folder: Path, limit: int = 6) -> str:
    names = sorted(p.name + ("/" if _is_folder(p) else "") for p in folder.iterdir())
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _wrong_kind(path: Path, folder: bool = False) -> bool:
    """Whether something clr_lib did not write is at ``path``, where a run writes a file (or a folder)."""
    return path.is_symlink() or path.exists() and path.is_dir() != folder


def _holds_run(out: Path) -> bool:
    """Whether ``out`` holds a run written by clr_lib: its marker, a clr_lib ``metrics.json``, or a backup."""
    if _is_file(out / MARKER) or _is_file(out / BACKUP / "training_metadata.json"):
        return True
    try:  # runs written before the marker existed
        return _is_file(out / "metrics.json") and {"method", "profile", "epochs"} <= set(
            json.loads((out / "metrics.json").read_text()))
    except (OSError, ValueError, TypeError):
        return False


def check_folder(out: Path, mode: str) -> None:
    """Refuse, before anything is loaded or written, a folder that ``mode`` may not use (see ``pretrain``)."""
    if mode not in {"new", "resume", "replace"}:
        raise ValueError(f"mode must be 'new', 'resume' or 'replace', got {mode!r}.")
    if out.is_symlink():
        raise ValueError(f"{out} is a symbolic link (to {os.path.realpath(out)}); a run folder must be a real folder, "
                         "so that replacing a run can never delete files elsewhere: pass the real folder instead.")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder: choose a new folder for the run.")
    holds_run = out.exists() and _holds_run(out)
    if mode == "resume" and not holds_run:
        what = ("it does not exist" if not out.exists()
                else f"it holds {_listing(out)}" if any(out.iterdir()) else "it is empty")
        raise FileNotFoundError(f"{out} holds no run to resume ({what}): start a new run without --resume.")
    if mode == "resume" and (out / "metrics.json").exists():
        raise FileExistsError(f"{out} holds a finished run; nothing to resume (use --replace to start over).")
    if mode == "new" and holds_run:
        raise FileExistsError(f"{out} already holds a run: pass --resume to continue it or --replace to start over.")
    if mode == "new" and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty (it holds {_listing(out)}): choose a new or empty folder "
                              "for the run.")
    if mode == "replace" and not holds_run and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} holds no clr_lib run to replace, only other files ({_listing(out)}), and "
                              "--replace deletes nothing but a run's own files: choose a new or empty folder "
                              "for the run.")
    taken = [path for path in [*(out / n for n in RUN_FILES), *(out / BACKUP / n for n in BACKUP_FILES)]
             if _wrong_kind(path)] + ([out / BACKUP] if _wrong_kind(out / BACKUP, folder=True) else [])
    if taken:
        raise FileExistsError(f"{', '.join(map(str, taken))}: the run writes its own files there, but clr_lib did "
                              f"not write {'these' if len(taken) > 1 else 'this'} (a folder or a link): move "
                              f"{'them' if len(taken) > 1 else 'it'} out of {out}.")


def _remove_own(folder: Path, names: Iterable[str]) -> None:
    """Delete the files of ``folder`` that ``names`` lists (and their temporary files); nothing else."""
    for path in folder.iterdir():
        if _own(path.name, names) and _is_file(path):
            path.unlink()


def remove_backup(out: Path) -> None:
    """Delete the backup's files, and ``backup/`` itself unless it holds files clr_lib did not write."""
    backup = out / BACKUP
    if _is_folder(backup):
        _remove_own(backup, BACKUP_FILES)
        if not any(backup.iterdir()):
            backup.rmdir()


def remove_run(out: Path) -> None:
    """Delete the run in ``out``: ``RUN_FILES`` and the backup, nothing else (other files stay)."""
    if _is_folder(out):
        remove_backup(out)
        _remove_own(out, RUN_FILES)


def settings(method: str, encoder: str, profile: Profile, seed: int, method_kwargs: dict, fingerprint: str) -> dict:
    """What a resume must match, as JSON: a run continued under other settings would be no run at all."""
    record = {"method": method, "encoder": encoder, "profile": dataclasses.asdict(profile), "seed": seed,
              "method_kwargs": method_kwargs, "data_fingerprint": fingerprint}
    return json.loads(json.dumps(record, default=repr))


def _flat(settings: dict) -> dict:
    profile = settings.get("profile", {})
    return {**{k: v for k, v in settings.items() if k != "profile"}, **{f"profile.{k}": v for k, v in profile.items()}}


def resume_point(out: Path, started: dict) -> tuple[int, dict[str, list[float]]]:
    """The epochs done and their history, from ``out``'s backup; refuses a run started with other settings."""
    marker = out / MARKER
    if not _is_file(marker):
        raise FileNotFoundError(f"{out} has no {MARKER}, the record of the settings it started with, so it cannot "
                                "be resumed safely (it was started by an older clr_lib): start over with --replace.")
    recorded, now = _flat(read_json(marker, "start over with --replace.")), _flat(started)
    changed = [f"{key} {recorded.get(key)!r} (now {now.get(key)!r})" for key in sorted(recorded.keys() | now.keys())
               if recorded.get(key) != now.get(key)]
    if changed:
        raise ValueError(f"{out} was started with other settings: {'; '.join(changed)}. Resume it with the settings "
                         "it started with (--method, --encoder, --profile, --epochs, --batch-size, --seed and "
                         "CLR_DATA_DIR), or start over with --replace.")
    metadata, saved = out / BACKUP / "training_metadata.json", out / BACKUP / "history.json"
    if not _is_file(metadata):
        raise FileNotFoundError(f"{out} has no backup to resume from (it stopped before finishing an epoch): "
                                "start over with --replace.")
    done = read_json(metadata, "start over with --replace.").get("epoch")  # written by BackupAndRestore
    history = read_json(saved, "start over with --replace.").get("epochs", {}) if _is_file(saved) else {}
    if not isinstance(done, int) or done < 1 or not history or any(len(v) < done for v in history.values()):
        raise ValueError(f"{out / BACKUP} does not hold the history of the {done} epochs it backed up: "
                         "start over with --replace.")
    return done, {key: values[:done] for key, values in history.items()}  # history.json may be an epoch ahead
