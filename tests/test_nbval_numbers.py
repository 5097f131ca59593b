"""nbval compares the notebooks' numbers at the precision that carries meaning (notebooks/conftest.py).

Stored outputs come from one machine; another CPU may change a float's last digits, never its
meaning. These tests hold the comparison to that: last-digit noise passes, a change in the 4th
significant digit fails, and so does any change of text or of an integer.
"""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
spec = importlib.util.spec_from_file_location("nbval_numbers", NOTEBOOKS / "conftest.py")
numbers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(numbers)


@pytest.mark.parametrize("new, stored", [
    ("471.6592233506784", "471.6592233506785"),    # float64, another summation order
    ("3.4956769943237305", "3.4956772327423096"),  # float32, the 7th significant digit
    ("0.4170", "0.4169"),                          # a formatted value on a rounding boundary
    ("-0.00", "0.00"),
    ("1.0000001e-05", "1e-05"),
])
def test_last_digit_noise_agrees(new, stored):
    assert numbers.numbers_agree(new, stored)


@pytest.mark.parametrize("new, stored", [
    ("3.4966772327423096", "3.4956772327423096"),  # 4th significant digit
    ("471.7592233506785", "471.6592233506785"),
    ("0.4172", "0.4170"),                          # two units in the last printed digit
    ("0.42", "0.4170"),                            # other precision: only the relative tolerance applies
    ("1.1e-05", "1e-05"),
])
def test_a_real_change_disagrees(new, stored):
    assert not numbers.numbers_agree(new, stored)


def test_only_numbers_are_aligned_and_only_when_the_text_around_them_is_the_same():
    stored = "loss 1.1723 after 512 steps"
    assert numbers.align_text("loss 1.1722 after 512 steps", stored) == stored
    assert numbers.align_text("loss 1.1722 after 513 steps", stored) == "loss 1.1722 after 513 steps"
    assert numbers.align_text("loss 1.1722 over 512 steps", stored) == "loss 1.1722 over 512 steps"
    assert numbers.align_text("loss 1.1800 after 512 steps", stored) == "loss 1.1800 after 512 steps"


def _stored_outputs(notebook: str, record: str) -> list:
    """The stored outputs of the cell in a chapter notebook whose output holds ``record``."""
    for cell in nbformat.read(NOTEBOOKS / notebook, as_version=4).cells:
        if cell.cell_type == "code" and any(record in json.dumps(o) for o in cell.outputs):
            return cell.outputs
    raise AssertionError(f"no stored output holds {record!r} in {notebook}")


def _replace(outputs: list, old: str, new: str) -> list:
    return [nbformat.from_dict(json.loads(json.dumps(o).replace(old, new))) for o in outputs]


@pytest.mark.parametrize("notebook, value, noisy, changed", [
    # glued floats of 6 significant digits that no re-run changes: ln 7, and a loss on a fixed batch
    ("04_nt_xent_temperature.ipynb", "1.94591", "1.94592", "1.95591"),
    ("appendix_scaling_out.ipynb", "3.49568", "3.49569", "3.49668"),
])
def test_the_chapters_stored_outputs_tolerate_noise_but_not_a_change(notebook, value, noisy, changed):
    stored = _stored_outputs(notebook, value)
    assert numbers.align_outputs(_replace(stored, value, noisy), stored) == stored
    assert numbers.align_outputs(_replace(stored, value, changed), stored) != stored


def _notebook(path: Path, stored: list[tuple[str, list[dict]]]) -> None:
    cells = []
    for count, (source, outputs) in enumerate(stored, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        cells.append(cell)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


def _glue_record(value: str) -> dict:
    return {"output_type": "display_data", "metadata": {"scrapbook": {"mime_prefix": "application/papermill.record/",
                                                                        "name": "loss"}},
            "data": {"application/papermill.record/text/plain": value}}


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


SOURCES = (
    "from myst_nb import glue\nglue('loss', 3.4956772327423096, display=False)",
    "print(f'mean {0.41695:.4f} over {512} images')",
)


@pytest.mark.parametrize("stored, passes", [
    ([[_glue_record("3.4956769943237305")], [_stream("mean 0.4169 over 512 images\n")]], True),
    ([[_glue_record("3.4966772327423096")], [_stream("mean 0.4169 over 512 images\n")]], False),
    ([[_glue_record("3.4956772327423096")], [_stream("mean 0.4169 over 513 images\n")]], False),
])
def test_nbval_with_the_chapters_conftest_passes_noise_and_fails_changes(tmp_path, stored, passes):
    shutil.copy(NOTEBOOKS / "conftest.py", tmp_path / "conftest.py")
    _notebook(tmp_path / "check.ipynb", list(zip(SOURCES, stored)))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), "check.ipynb"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert (run.returncode == 0) == passes, run.stdout[-3000:]
    assert ("2 passed" if passes else "1 failed, 1 passed") in run.stdout
