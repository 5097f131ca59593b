"""The Markdown pages' figures are drawn by the library and committed up to date (tools/figures.py)."""

import importlib.util
import re
from pathlib import Path

from clr_lib import viz

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("figures", ROOT / "tools" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_idea_diagram_shows_anchor_positive_and_negatives():
    ax = viz.idea_diagram().axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert [label.split(":")[0] for label in labels] == ["anchor", "positive", "negatives"]
    assert len(ax.collections[2].get_offsets()) == 5  # five negatives


def test_every_figure_a_page_shows_exists_and_matches_the_code(tmp_path):
    tool = _tool()
    shown = {ROOT / "book" / m for m in re.findall(r"```\{figure\} (\S+)", (ROOT / "book" / "intro.md").read_text())}
    assert shown and shown <= set(tool.FIGURES), "a page shows a figure that tools/figures.py does not draw"
    stale = [path.name for path, make in tool.FIGURES.items() if tool.differs(path, make)]
    assert not stale, f"{stale} out of date: run `python3 tasks.py figures`"
    different = tmp_path / "blank.png"
    tool.draw(different, lambda: viz.metric_bars({"a": 0.5}))
    assert tool.differs(different, viz.idea_diagram)  # the check can fail
