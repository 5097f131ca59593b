"""The first lines of every chapter: choose the profile, fix the seeds, say what produced the numbers.

Every number a chapter's prose shows is ``glue``-d from the cell that computed it, so the text
and the outputs cannot disagree (myst-nb renders ``{glue:text}`name:format``` in the book).
"""

from __future__ import annotations

import os

import keras

from clr_lib import data
from clr_lib.config import Profile, cpu_name, get_profile


def start(seed: int = 0, profile: str | None = None) -> Profile:
    """Pick the profile (``profile`` > ``$CLR_PROFILE`` > full on a GPU, book otherwise), seed every
    random generator, and print the profile, the hardware and the data source; returns the profile."""
    chosen = get_profile(profile)
    keras.utils.set_random_seed(seed)
    source = os.environ.get(data.DATA_DIR_VAR)
    print(f"profile {chosen.name!r} ({chosen.hardware}); running on {hardware()}")
    print("data: " + (f"{source} (a JPEG re-encode of CIFAR-10: accuracies differ slightly from the original)"
                      if source else "CIFAR-10 from keras.datasets"))
    return chosen


def hardware() -> str:
    """A short description of this machine: CPU model and cores, or the GPUs TensorFlow sees."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s)"
    return f"{cpu_name()}, {os.cpu_count()} cores, no GPU"


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book's text (myst-nb's ``glue``); a no-op print where myst-nb is absent, e.g. in Colab."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            print(f"{name} = {value}")
        return
    myst_glue(name, value, display=display)
