"""How long each notebook's stored run took: one table, computed from the notebooks themselves.

    python3 tasks.py runtimes            # print the table
    python3 tasks.py runtimes --write    # put it into README.md and book/how_to_run.md
    python3 tasks.py runtimes --check    # change nothing; exit 1 if either file's table is out of date

``python3 tasks.py notebooks`` records, in each notebook it executes, the profile, the wall-clock
seconds of the whole run, the machine and its speed-relevant CPU flags (``metadata.clr_run``;
runs stored before the flags were kept say so). The table lists them in the
book's order; a notebook stored before that record existed says so instead of a time.
The two files hold the table between the markers ``START`` and ``END`` below.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = [ROOT / "README.md", ROOT / "book" / "how_to_run.md"]
START, END = "<!-- run times: python3 tasks.py runtimes --write -->", "<!-- end of run times -->"


def records(folder: Path = ROOT / "notebooks") -> dict[str, dict | None]:
    """``{notebook file name: its metadata.clr_run or None}``, in file-name order (the book's)."""
    return {path.name: json.loads(path.read_text()).get("metadata", {}).get("clr_run")
            for path in sorted(folder.glob("*.ipynb"))}


def table(runs: dict[str, dict | None]) -> str:
    """The markdown table of ``records``, with the total of the timed runs."""
    lines = ["| notebook | profile | run time | machine | CPU flags |", "|---|---|---|---|---|"]
    for name, run in runs.items():
        if run is None:
            lines.append(f"| `{name}` | book | not recorded (stored before run times were kept) | | |")
        else:
            flags = " ".join(run["cpu_flags"]) if "cpu_flags" in run else "not recorded"
            lines.append(f"| `{name}` | {run['profile']} | {run['seconds'] / 60:.1f} min | {run['hardware']} | {flags} |")
    timed = [run["seconds"] for run in runs.values() if run]
    lines.append(f"| all {len(timed)} timed | | {sum(timed) / 60:.1f} min | | |")
    return "\n".join(lines)


def replaced(text: str, block: str, path: Path) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"{path} has no run-time table: put the lines {START!r} and {END!r} where it goes.")
    head, rest = text.split(START, 1)
    return f"{head}{START}\n{block}\n{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--write", action="store_true", help="update README.md and book/how_to_run.md")
    cli.add_argument("--check", action="store_true", help="exit 1 if a file's table is out of date")
    args = cli.parse_args(argv)
    block = table(records())
    if not (args.write or args.check):
        print(block)
        return
    stale = []
    for path in TARGETS:
        text = path.read_text()
        new = replaced(text, block, path)
        if new != text:
            stale.append(path)
            if args.write:
                path.write_text(new)
    if args.check and stale:
        sys.exit(f"out of date: {', '.join(str(p.relative_to(ROOT)) for p in stale)}; run python3 tasks.py runtimes --write")


if __name__ == "__main__":
    main()
