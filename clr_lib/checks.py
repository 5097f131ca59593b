"""Argument checks shared by the modules, so that one bad value gets one wording of its error."""

from __future__ import annotations

import numbers


def is_positive_int(value) -> bool:
    """Whether ``value`` is a whole number >= 1 (a Python or NumPy int; not a bool, not a float)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def check_positive_int(value, name: str) -> int:
    """``value`` as an int if ``is_positive_int``; else a ``TypeError`` (not an int) or ``ValueError`` (< 1) naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}.")
    return int(value)
