"""Every chapter opens in Colab ready to run: its first cell installs the course from the configured repository.

The cell is written once, in tools/colab_cell.py, and put into the notebooks with
``python3 tasks.py colab``. These tests check every notebook in notebooks/ against
_config.yml, and check that the cell does nothing outside Colab and the right things in it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import sys
import types
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIX = "run `python3 tasks.py colab` to insert or update it"


def _load_tool():
    spec = importlib.util.spec_from_file_location("colab_cell", ROOT / "tools" / "colab_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab_cell = _load_tool()


def _repository() -> tuple[str, str]:
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return repository["url"].rstrip("/"), repository["branch"]


def _python(source: str) -> str:
    """The cell's source as IPython runs it (``%pip`` becomes a ``get_ipython()`` call)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def test_config_sets_up_the_colab_launch_button():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url, branch = _repository()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), f"repository.url must be a GitHub repository, got {url}"
    assert branch
    assert config["repository"]["path_to_book"] in ("", None), "the book root is the repository root"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_the_colab_cell_for_the_configured_repository(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    first = cells[0]
    source = "".join(first["source"])
    tags = first.get("metadata", {}).get("tags", [])
    assert first["cell_type"] == "code" and colab_cell.TAG in tags, f"{path.name}: the first cell is not the Colab cell; {FIX}"
    assert sum(colab_cell.TAG in c.get("metadata", {}).get("tags", []) for c in cells) == 1, f"{path.name}: two Colab cells"
    assert "remove-cell" in tags, f"{path.name}: the Colab cell must be tagged remove-cell (the book hides it); {FIX}"

    installs = re.findall(r'^\s*%pip install -q "clr-lib\[viz\] @ git\+(\S+)@([\w./-]+)"\s*$', source, re.M)
    url, branch = _repository()
    assert installs == [(url, branch)], (
        f"{path.name}: the Colab cell installs from {installs}, but _config.yml says {url}@{branch}; {FIX}"
    )
    assert 'if "google.colab" in sys.modules:' in source, f"{path.name}: the install must run only in Colab"
    assert source == colab_cell.cell_source(url, branch), f"{path.name}: the Colab cell is out of date; {FIX}"
    assert not first.get("outputs"), f"{path.name}: the Colab cell printed something outside Colab"


def _run_cell(branch: str) -> tuple[list, str]:
    """Execute the Colab cell for a test repository and ``branch``: the magics it ran and what it printed."""
    calls = []
    namespace = {"get_ipython": lambda: types.SimpleNamespace(run_line_magic=lambda *a: calls.append(a))}
    printed = io.StringIO()
    with redirect_stdout(printed):
        exec(_python(colab_cell.cell_source("https://github.com/someone/course", branch)), namespace)
    return calls, printed.getvalue()


def test_cell_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("CLR_PROFILE", raising=False)
    calls, printed = _run_cell("main")
    assert calls == [] and printed == ""
    assert "CLR_PROFILE" not in os.environ


@pytest.mark.parametrize("gpus, expected", [([], "book"), (["GPU:0"], "gpu")])
def test_cell_in_colab_installs_from_the_repository_and_picks_the_profile(monkeypatch, gpus, expected):
    import tensorflow as tf

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.delenv("CLR_PROFILE", raising=False)
    calls, printed = _run_cell("dev")
    assert calls == [("pip", 'install -q "clr-lib[viz] @ git+https://github.com/someone/course@dev"')]
    assert os.environ["CLR_PROFILE"] == expected
    assert f"profile {expected}" in printed


def test_tool_inserts_the_cell_once_and_first(tmp_path):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# 1. A chapter"), nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)

    url, branch = "https://github.com/someone/course", "main"
    assert colab_cell.apply(path, url, branch, check=True) is True
    assert colab_cell.apply(path, url, branch) is True
    written = path.read_text()
    assert colab_cell.apply(path, url, branch) is False, "a second run must change nothing"
    assert path.read_text() == written

    cells = nbformat.read(path, as_version=4).cells
    assert [c.cell_type for c in cells] == ["code", "markdown", "code"]
    assert cells[0].source == colab_cell.cell_source(url, branch) and cells[0].metadata.tags == colab_cell.TAGS
    assert cells[1].source == "# 1. A chapter" and cells[2].source == "x = 1"

    # A new repository address replaces the cell instead of adding a second one.
    assert colab_cell.apply(path, "https://github.com/other/course", "main") is True
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 3 and "git+https://github.com/other/course@main" in cells[0].source


def test_tool_moves_a_misplaced_cell_to_the_top(tmp_path):
    import nbformat

    url, branch = "https://github.com/someone/course", "main"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Title"), colab_cell.make_cell(url, branch)]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)
    assert colab_cell.apply(path, url, branch) is True
    cells = nbformat.read(path, as_version=4).cells
    assert [c.cell_type for c in cells] == ["code", "markdown"] and colab_cell.TAG in cells[0].metadata.tags


def test_tool_check_mode_reports_and_changes_nothing(tmp_path, capsys):
    import nbformat

    path = tmp_path / "chapter.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T")]), path)
    before = path.read_text()
    assert colab_cell.main(["--check", str(path)]) == 1
    assert path.read_text() == before
    assert "needs the set-up cell" in capsys.readouterr().out
    assert colab_cell.main([str(path)]) == 0
    assert colab_cell.main(["--check", str(path)]) == 0
