"""The first lines of every chapter: choose the profile, fix the seeds, say what produced the numbers.

Every number a chapter's prose shows is ``glue``-d from the cell that computed it, so the text
and the outputs cannot disagree (myst-nb renders ``{glue:text}`name:format``` in the book).
The chapters' result files are ``clr_lib.results``'s (``save_chapter``, ``chapter_record``).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from clr_lib import data
from clr_lib.config import Profile, get_profile, hardware


def start(seed: int = 0, profile: str | None = None) -> Profile:
    """Pick the profile (``profile`` > ``$CLR_PROFILE`` > full on a GPU, book otherwise), seed every
    random generator, and print the profile, the hardware and the data source; returns the profile."""
    chosen = get_profile(profile)
    keras.utils.set_random_seed(seed)
    source = os.environ.get(data.DATA_DIR_VAR)
    print(f"profile {chosen.name!r} ({chosen.hardware}); running on {hardware()}")
    jpeg_note = "a JPEG re-encode of CIFAR-10, quality 75: accuracies can sit a little below those on the original"
    print(f"data: {Path(source).name} ({jpeg_note})" if source else "data: CIFAR-10 from keras.datasets")
    return chosen


GLUE_DIGITS = 6  # significant digits a glued float keeps: more than any text shows, fewer than a CPU can change


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book's text (myst-nb's ``glue``); a no-op print where myst-nb is absent, e.g. in Colab.

    A float is stored to ``GLUE_DIGITS`` significant digits: the text formats it to fewer, and
    the digits beyond differ between CPUs, which the stored outputs must not depend on.
    """
    if isinstance(value, (float, np.floating)):
        value = float(f"{float(value):.{GLUE_DIGITS}g}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            print(f"{name} = {value}")
        return
    myst_glue(name, value, display=display)


def table(rows: list[list], headers: list[str]):
    """A Markdown table (rendered in Jupyter and in the book) from rows of already formatted cells."""
    from IPython.display import Markdown

    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"every row needs {len(headers)} cells, one per header {headers}.")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return Markdown("\n".join(lines))
