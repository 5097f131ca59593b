"""nbval settings for the chapter notebooks: numbers compared at the precision that carries meaning,
and nothing on stderr compared. pytest loads this file for any notebook in this folder.

**Numbers.** A floating-point result legitimately differs in its last digits between CPUs (AVX2 or AVX-512
kernels in NumPy and oneDNN) and library versions, so the stored outputs, produced on one
machine, cannot match another machine's bit for bit. Before nbval compares a cell's new
outputs with the stored ones, every number with a decimal point or an exponent in the new
outputs that *agrees* with the stored number at the same place is written as the stored one;
all other text, integers included, must still match exactly. Two numbers agree when

* they differ by at most ``RELATIVE_TOLERANCE`` (1e-5) of the larger: a float32 result's
  7th significant digit may move, a loss off in its 4th or 5th significant digit fails; or
* both are printed with the same number of decimals and differ by at most one unit in the last
  one: a formatted value whose true value sits on a rounding boundary (0.41695 printed as
  0.4169 on one CPU and 0.4170 on another).

This applies to every output nbval compares: printed text, HTML and Markdown tables and
``glue`` records.

**stderr.** TensorFlow's C++ runtime writes start-up lines (``cudart_stub.cc``,
``absl::InitializeLog``) straight to the process's stderr, and ipykernel forwards them to
whichever cell is running when they arrive, or not at all: they are not the notebook's results.
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal

from nbval.plugin import IPyNbCell

RELATIVE_TOLERANCE = 1e-5
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+")


def _decimals(token: str) -> int | None:
    """Digits after the decimal point of a plain decimal token ('0.4170' -> 4); None with an exponent."""
    if "e" in token.lower() or "." not in token:
        return None
    return len(token.split(".")[1])


def numbers_agree(new: str, stored: str) -> bool:
    """Whether two number tokens agree at the precision they carry (see the module docstring)."""
    a, b = Decimal(new), Decimal(stored)
    if abs(a - b) <= Decimal(RELATIVE_TOLERANCE) * max(abs(a), abs(b)):
        return True
    places = _decimals(new)
    return places is not None and places == _decimals(stored) and abs(a - b) <= Decimal(1).scaleb(-places)


def align_text(new: str, stored: str) -> str:
    """``new`` with each number that agrees with its counterpart in ``stored`` replaced by it.

    Only when both texts are the same apart from their numbers, and hold as many; otherwise
    ``new`` is returned unchanged, and nbval shows the difference as usual.
    """
    new_parts, stored_parts = NUMBER.split(new), NUMBER.split(stored)
    if new_parts != stored_parts:
        return new
    new_numbers, stored_numbers = NUMBER.findall(new), NUMBER.findall(stored)
    merged = [s if numbers_agree(n, s) else n for n, s in zip(new_numbers, stored_numbers)]
    pieces = [new_parts[0]]
    for number, text in zip(merged, new_parts[1:]):
        pieces += [number, text]
    return "".join(pieces)


def _align_value(new, stored):
    if isinstance(new, str) and isinstance(stored, str):
        return align_text(new, stored)
    if isinstance(new, dict) and isinstance(stored, dict):
        return {key: _align_value(value, stored[key]) if key in stored else value for key, value in new.items()}
    return new


def align_outputs(new: list, stored: list) -> list:
    """The new outputs of a cell, numbers aligned with the stored outputs of the same kind, in order."""
    stored_by_kind = defaultdict(list)
    for output in stored:
        stored_by_kind[(output.get("output_type"), output.get("name"))].append(output)
    seen: dict[tuple, int] = defaultdict(int)
    aligned = []
    for output in new:
        kind = (output.get("output_type"), output.get("name"))
        counterpart = stored_by_kind[kind][seen[kind]] if seen[kind] < len(stored_by_kind[kind]) else None
        seen[kind] += 1
        if counterpart is None:
            aligned.append(output)
        else:
            merged = type(output)(output)
            merged.update({key: _align_value(value, counterpart[key]) for key, value in output.items()
                           if key in counterpart and key in ("text", "data")})
            aligned.append(merged)
    return aligned


if not getattr(IPyNbCell.compare_outputs, "aligns_numbers", False):
    _compare_exactly = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        return _compare_exactly(self, align_outputs(test, ref), ref, skip_compare)

    compare_outputs.aligns_numbers = True
    IPyNbCell.compare_outputs = compare_outputs


def pytest_collection_modifyitems(items):
    for item in items:
        notebook = getattr(item, "parent", None)
        skip = getattr(notebook, "skip_compare", None)
        if skip is not None and "stderr" not in skip:
            notebook.skip_compare = (*skip, "stderr")
