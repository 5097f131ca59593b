"""Every page of the book is shaped for a learner, checked on the sources of the pages in the table of contents.

- each page has one title, a ``## What you will learn`` section (its objectives) and a
  ``## Summary``;
- each chapter links at least one glossary term ({term}`...`) and cites the bibliography;
- every entry of references.bib is cited somewhere in the book.

Set ``CLR_BOOK_TOC`` to check the pages of another table of contents (see book_site.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from book_site import ROOT, source_file, toc_pages, toc_path

PAGES = toc_pages(toc_path())
CHAPTERS = [page for page in PAGES if page.startswith("notebooks/")]
OBJECTIVES = "What you will learn"
SUMMARY = "Summary"
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def _markdown(path: Path) -> str:
    """The Markdown of a page: the file itself, or a notebook's markdown cells, fenced code removed."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    lines, fences = [], []  # the open fences, as (marker, holds code)
    for line in text.splitlines():
        marker = re.match(r"^\s*(`{3,}|~{3,}|:{3,})\s*(\S*)", line)
        in_code = any(code for _, code in fences)
        if marker and fences and marker.group(1) == fences[-1][0] and not marker.group(2):
            fences.pop()
        elif marker and not in_code:  # a code block, or a MyST directive such as ```{admonition}
            info = marker.group(2)
            fences.append((marker.group(1), not info.startswith("{") or info.startswith("{code")))
        elif not in_code:
            lines.append(line)
    return "\n".join(lines)


def _headings(text: str) -> list[tuple[int, str]]:
    return [(len(m.group(1)), m.group(2).strip()) for m in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*$", text, re.M)]


@pytest.mark.parametrize("docname", PAGES)
def test_page_has_a_title_objectives_and_a_summary(docname):
    path = source_file(docname)
    headings = _headings(_markdown(path))
    titles = [title for level, title in headings if level == 1]
    sections = [title for level, title in headings if level == 2]
    assert headings and headings[0][0] == 1 and len(titles) == 1, (
        f"{path.name} must start with exactly one title (# ...), found {titles}"
    )
    assert OBJECTIVES in sections, f"{path.name} has no '## {OBJECTIVES}' section (its objectives)"
    assert SUMMARY in sections, f"{path.name} has no '## {SUMMARY}' section"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_links_the_glossary_and_cites_the_bibliography(docname):
    text = _markdown(source_file(docname))
    assert "{term}`" in text, f"{docname} links no glossary term: write e.g. {{term}}`temperature` (book/glossary.md)"
    assert CITE.search(text), f"{docname} cites nothing from references.bib: write e.g. {{cite:p}}`chen2020simple`"


def test_every_reference_is_cited_in_the_book():
    keys = set(re.findall(r"^@\w+\{\s*([^,\s]+)\s*,", (ROOT / "references.bib").read_text(encoding="utf-8"), re.M))
    cited = {
        key.strip()
        for page in PAGES
        for group in CITE.findall(_markdown(source_file(page)))
        for key in group.split(",")
    }
    assert not cited - keys, f"cited but missing from references.bib: {sorted(cited - keys)}"
    assert not keys - cited, (
        f"in references.bib but cited by no page of {toc_path().name}: {sorted(keys - cited)}; cite them where "
        "the book uses them, or remove them"
    )
