"""The book's figures that no notebook draws (the intro's picture), written from ``clr_lib.viz``.

    python3 tasks.py figures            # write them into book/images/
    python3 tasks.py figures --check    # change nothing; exit 1 if a file differs from what the code draws

The pictures are code (``clr_lib.diagrams``), so they are tested and restyled in one place; this
tool turns the ones the Markdown pages show into PNG files, which the book build then copies.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402

from clr_lib import viz  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {ROOT / "book" / "images" / "contrastive_idea.png": viz.idea_diagram}


def draw(path: Path, make) -> None:
    figure = make()
    figure.savefig(path, dpi=110, format="png", metadata={"Software": None})
    matplotlib.pyplot.close(figure)


def differs(path: Path, make) -> bool:
    """Whether ``path`` is missing or its pixels differ from what ``make`` draws now (a tolerance for
    the anti-aliasing of other font and FreeType builds)."""
    if not path.is_file():
        return True
    with tempfile.TemporaryDirectory() as folder:
        fresh = Path(folder) / path.name
        draw(fresh, make)
        old, new = mpimg.imread(path), mpimg.imread(fresh)
    return old.shape != new.shape or float(np.abs(old - new).mean()) > 0.01


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a figure is out of date")
    args = parser.parse_args(argv)
    stale = [path for path, make in FIGURES.items() if differs(path, make)]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is missing or out of date: run `python3 tasks.py figures`")
        return 1 if stale else 0
    for path, make in FIGURES.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        draw(path, make)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
