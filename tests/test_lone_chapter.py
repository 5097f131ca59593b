"""A chapter opened alone, as in Colab: only the notebook, no ``notebooks/results`` and no ``benchmarks/``.

Chapter 9 reads the most result files of any chapter (every earlier chapter's record and the
CPU-budget runs) and trains nothing, so it is the one run here, in the ``smoke`` profile, in a
temporary folder holding nothing but a copy of it. It must run to the end on the result files
shipped with the package (``clr_lib/reference``) and say so in its output.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the test extra: python3 tasks.py test")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "09_comparison.ipynb"


def test_chapter_9_runs_alone_on_the_shipped_results(tmp_path, monkeypatch):
    lone = tmp_path / NOTEBOOK.name
    shutil.copyfile(NOTEBOOK, lone)
    monkeypatch.setenv("CLR_PROFILE", "smoke")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(lone, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a failing cell
    printed = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                        for output in cell.outputs if output.get("name") == "stdout")
    assert "shipped with clr_lib" in printed and "profile 'book'" in printed, printed[-2000:]
    assert sorted(os.listdir(tmp_path)) == [NOTEBOOK.name], "a chapter that only reads must not write files"
