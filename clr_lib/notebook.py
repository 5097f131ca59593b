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

from clr_lib import data, evaluation
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


BACKUP_DIR_VAR = "CLR_BACKUP_DIR"
BACKED_UP_PROFILES = ("gpu", "full")  # hours-long cells on a runtime that can reset (Colab)


def backup_dir(profile: Profile, name: str) -> Path | None:
    """Where a chapter's long training cell keeps its checkpoints (``runs.train(..., backup_dir=...)``).

    ``$CLR_BACKUP_DIR/<profile>/<name>`` (``CLR_BACKUP_DIR`` defaults to ``checkpoints``, next to the
    notebook) in the profiles of ``BACKED_UP_PROFILES``, and in any profile when ``CLR_BACKUP_DIR``
    is set; ``None`` (no checkpoints: the CPU profiles' runs take minutes) otherwise.
    """
    root = os.environ.get(BACKUP_DIR_VAR)
    if root is None and profile.name not in BACKED_UP_PROFILES:
        return None
    return Path(root or "checkpoints") / profile.name / name


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


def mean_spread(values) -> str:
    """``"61.2% ± 0.4%"``: the mean of one accuracy per seed and their sample standard deviation."""
    values = np.asarray(values, np.float64).reshape(-1)
    if len(values) < 2:
        raise ValueError(f"a spread needs values from at least 2 seeds, got {len(values)}.")
    return f"{values.mean():.1%} ± {values.std(ddof=1):.1%}"


def _points(difference: float, low: float, high: float, seeds: str = "") -> str:
    return f"{100 * difference:+.1f} points (95% interval {100 * low:+.1f} to {100 * high:+.1f}{seeds})"


def claim_sentence(claim: dict) -> str:
    """One ``evaluation.evidence`` record as the text says it: the difference in points, its 95%
    interval, the seeds and the verdict in bold (Markdown)."""
    seeds = f", {claim['seeds']} seeds each"
    return f"{_points(claim['measured'], *claim['interval'], seeds)}: **{claim['verdict']}**"


def difference_sentence(a, b) -> tuple[str, str]:
    """``mean(a) - mean(b)`` over seeds (``evaluation.difference_interval``) as the text says it,
    ``"+1.2 points (95% interval -0.3 to +2.7)"``, and where that puts ``a`` against ``b``:
    ``"above"`` or ``"below"`` when the interval excludes 0, else ``"not distinguishable from"``."""
    difference, low, high = evaluation.difference_interval(a, b)
    side = "above" if low > 0 else "below" if high < 0 else "not distinguishable from"
    return _points(difference, low, high), side


def glue_claims(claims: dict[str, dict]) -> None:
    """Glue each claim's ``claim_sentence`` as ``claim_<key>`` for the text (``{glue:md}`` or ``{glue:text}``)."""
    from IPython.display import Markdown

    for key, claim in claims.items():
        glue(f"claim_{key}", Markdown(claim_sentence(claim)))


def evidence_table(claims):
    """The claims a chapter tested (``evaluation.evidence`` records) as a Markdown table: the paper's
    claim, its source, the measured difference and its 95% interval in points, the seeds, the verdict."""
    return table([[c["claim"], c["source"], f"{100 * c['measured']:+.1f}",
                   f"{100 * c['interval'][0]:+.1f} to {100 * c['interval'][1]:+.1f}", c["seeds"], c["verdict"]]
                  for c in claims],
                 ["the paper says", "source", "we measured (points)", "95% interval", "seeds", "verdict"])
