"""Every internal link of the built book resolves: the file exists and so does the #anchor.

Reads every HTML page of the build (not ``_static`` or ``_sources``) and checks each
``href`` and ``src`` that stays inside the book: ``<a>``, ``<img>``, ``<link>``,
``<script>``, ``<source>`` and ``<iframe>``. Links to other sites are not followed (the
book must build offline); the browser test checks the pages as a reader sees them.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK_ATTRIBUTES = {"a": "href", "link": "href", "img": "src", "script": "src", "source": "src", "iframe": "src"}
SKIPPED_FOLDERS = {"_static", "_sources", "_images"}


class _Page(HTMLParser):
    """The ids (anchors) of one HTML page and the links it makes, with their line numbers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[int, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.ids.add(values[key])
        attribute = LINK_ATTRIBUTES.get(tag)
        if attribute and values.get(attribute) is not None:
            self.links.append((self.getpos()[0], tag, values[attribute]))


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        cache[path] = page
    return cache[path]


def _problem(html: Path, page: Path, link: str, cache: dict[Path, _Page]) -> str | None:
    """Why ``link`` on ``page`` does not resolve inside the book, or None when it does."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:", "tel:")):
        return None  # another site, or not a file
    target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if html.resolve() not in target.parents and target != html.resolve():
        return f"points outside the book folder, to {target}"
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"no such file {target.relative_to(html.resolve())}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in _parse(target, cache).ids:
        return f"no anchor #{fragment} in {target.relative_to(html.resolve())}"
    return None


def test_internal_links_and_anchors_resolve(book):
    html = book.html.resolve()
    pages = sorted(p for p in html.rglob("*.html") if not SKIPPED_FOLDERS & set(p.relative_to(html).parts))
    assert pages, f"no HTML pages in {html}"
    cache: dict[Path, _Page] = {}
    problems, checked = [], 0
    for page in pages:
        for line, tag, link in _parse(page.resolve(), cache).links:
            checked += 1
            problem = _problem(html, page.resolve(), link, cache)
            if problem:
                problems.append(f"{page.relative_to(html)}:{line}: <{tag}> {link!r}: {problem}")
    report = "\n".join(problems[:60]) + (f"\n... and {len(problems) - 60} more" if len(problems) > 60 else "")
    assert not problems, f"{len(problems)} of {checked} internal links are broken:\n{report}"
