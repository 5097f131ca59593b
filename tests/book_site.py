"""The built book, shared by the tests that check it (test_book, test_links, test_browser, test_pages).

The book is built once per test session, as the README's book command builds it
(``jupyter-book build . -W -n --keep-going``), into a temporary folder. Two environment
variables point the tests elsewhere:

* ``CLR_BOOK_TOC=/path/to/_toc.yml`` builds and checks with another table of contents, for
  example a draft that lists chapters not yet in ``_toc.yml``;
* ``CLR_BOOK_HTML=/path/to/_build/html`` checks an existing build instead of building one
  (for example the one ``python3 tasks.py book`` made); the build test is then skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC_VAR = "CLR_BOOK_TOC"
HTML_VAR = "CLR_BOOK_HTML"


def toc_path() -> Path:
    """The table of contents the tests build with and check: ``$CLR_BOOK_TOC``, else ``_toc.yml``."""
    return Path(os.environ.get(TOC_VAR) or ROOT / "_toc.yml").resolve()


def toc_pages(toc: Path | None = None) -> list[str]:
    """The pages of a jb-book table of contents, as docnames without extension, in reading order."""
    data = yaml.safe_load((toc or toc_path()).read_text())
    pages = [data["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            for key in ("sections", "chapters"):
                walk(entry.get(key, []))

    for part in data.get("parts", []):
        walk(part.get("chapters", []))
    walk(data.get("chapters", []))
    walk(data.get("sections", []))
    return [re.sub(r"\.(md|ipynb)$", "", page).strip("/") for page in pages]


def source_file(docname: str, root: Path = ROOT) -> Path:
    """The source of a page: ``<docname>.md`` or ``<docname>.ipynb`` under ``root``."""
    for suffix in (".md", ".ipynb"):
        path = root / f"{docname}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"the table of contents lists {docname!r}, but {root} has no {docname}.md or .ipynb")


def config() -> dict:
    """The book's ``_config.yml``."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def colab_link(docname: str) -> str:
    """The "open in Colab" address the book should give the notebook page ``docname``.

    Built from ``_config.yml`` the way sphinx-book-theme does: ``<colab_url>/github/<owner>/<repo>/blob/<branch>/<path_to_book>/<docname>.ipynb``.
    """
    settings = config()
    repo = settings["repository"]
    owner_repo = repo["url"].rstrip("/").removeprefix("https://github.com/").removesuffix(".git")
    book_path = str(repo.get("path_to_book") or "").strip("/")
    path = f"{book_path}/{docname}.ipynb" if book_path else f"{docname}.ipynb"
    return f"{settings['launch_buttons']['colab_url'].rstrip('/')}/github/{owner_repo}/blob/{repo['branch']}/{path}"


@dataclass
class Book:
    """A built book: its HTML folder, the table of contents it was built from, and the build's log."""

    html: Path
    toc: Path
    log: str | None = None  # None when the tests check an existing build ($CLR_BOOK_HTML)
    returncode: int | None = None

    @property
    def pages(self) -> list[str]:
        return toc_pages(self.toc)

    def page_file(self, docname: str) -> Path:
        return self.html / f"{docname}.html"

    def page_source(self, docname: str) -> Path:
        """The page's source as the book copied it into ``_sources`` (so it matches the build)."""
        for suffix in (".ipynb", ".md"):
            path = self.html / "_sources" / f"{docname}{suffix}"
            if path.exists():
                return path
        return source_file(docname)


def build(output: Path) -> Book:
    """Build the book into ``output`` (its HTML lands in ``output/_build/html``), or reuse ``$CLR_BOOK_HTML``."""
    toc = toc_path()
    if os.environ.get(HTML_VAR):
        html = Path(os.environ[HTML_VAR]).resolve()
        if not (html / "index.html").exists():
            raise FileNotFoundError(f"{HTML_VAR}={html} is not a built book: it has no index.html")
        return Book(html=html, toc=toc)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not jupyter_book.exists():
        raise FileNotFoundError("jupyter-book is not installed: run `python3 tasks.py test`")
    command = [str(jupyter_book), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(output)]
    if toc != (ROOT / "_toc.yml").resolve():
        command += ["--toc", str(toc)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    return Book(html=output / "_build" / "html", toc=toc, log=result.stdout + result.stderr,
                returncode=result.returncode)
