"""The one list of methods that the method tests cover, and their test-sized settings.

Every method of the registry ``clr_lib.runs.METHODS`` is here but chapter 2's margin model
(``tests/test_margin_pairs.py`` tests it) and SupCon, which trains on labels too
(``tests/test_supcon.py``; ``mirrored_step.py`` reports its two-replica step apart): ``test_methods.py`` trains, saves and reloads each
one, and ``mirrored_step.py`` takes its step on two replicas and compares it with one device.
A method added to the registry joins both by itself; ``mirrored_step.py`` then stops with
the name of what is missing until its loss in NumPy (``reference_losses.py``) is there.
"""

import inspect

import keras

from clr_lib import methods, runs

TESTED_ELSEWHERE = ("margin", "supcon")
NAMES = [name for name in runs.METHODS if name not in TESTED_ELSEWHERE]


def build(name: str, encoder: keras.Model, batch: int, **overrides) -> methods.ContrastiveModel:
    """Method ``name`` around ``encoder`` for batches of ``batch`` images, with its state sized for a
    test: a queue (MoCo's keys, NNCLR's support set) of 4 batches, so that it turns over within a few
    steps, and a momentum of 0.9, so that a key encoder moves; ``overrides`` go to the method too."""
    parameters = inspect.signature(runs.METHODS[name]).parameters
    sized = {key: value for key, value in {"queue_size": 4 * batch, "momentum": 0.9}.items() if key in parameters}
    return runs.build_method(name, encoder, **sized, **overrides)
