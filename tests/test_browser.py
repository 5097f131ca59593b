"""The built book, opened page by page in a real browser (headless Chromium driven by Playwright).

Every page of the table of contents must load without console errors, show its figures
(every image in the page's content decoded, with a non-zero size, and at least as many
images as the notebook has figure outputs), have all its math typeset by MathJax, and, for
the chapter notebooks, carry the right "open in Colab" link. A full-page screenshot of every
page is saved in ``_build/screenshots/`` (or ``$CLR_SCREENSHOTS``) for review.

The browser is Debian's ``chromium`` (``python3 tasks.py test`` installs it when it runs as
root), or the binary named by ``$CLR_CHROMIUM``. The pages are served from the build on
``http://127.0.0.1`` with the network blocked: every request that leaves the book is
reported as an error, so the pages, MathJax included (the book serves its own copy from
``_static/mathjax``, book/_ext/book_html.py), must work offline.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from book_site import ROOT, colab_link, toc_pages, toc_path

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: run `python3 tasks.py test` (it is in the test extra)"
)

CHROMIUM_ARGS = [  # Chromium without a GPU, a sandbox or any background traffic to Google's servers
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
FIGURE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell"}
SCREENSHOTS = Path(os.environ.get("CLR_SCREENSHOTS") or ROOT / "_build" / "screenshots")


def _chromium() -> str | None:
    candidates = [os.environ.get("CLR_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                  shutil.which("google-chrome"), "/usr/bin/chromium"]
    return next((c for c in candidates if c and Path(c).exists()), None)


@pytest.fixture(scope="module")
def site(book):
    """The built book served over HTTP on 127.0.0.1 by a background thread; yields its base URL."""

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(book.html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip("Chromium not found: install Debian's package (`apt-get install chromium`; `python3 tasks.py "
                    "test` does it when run as root), or set CLR_CHROMIUM to a Chromium or Chrome binary")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _figure_outputs(source: Path) -> int:
    """How many figures a notebook's stored outputs show in the book (glued values and removed outputs excluded)."""
    if source.suffix != ".ipynb":
        return 0
    count = 0
    for cell in json.loads(source.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code" or HIDDEN_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for output in cell.get("outputs", []):
            if "scrapbook" in output.get("metadata", {}):  # a myst-nb glue value, shown elsewhere
                continue
            count += any(kind in output.get("data", {}) for kind in FIGURE_TYPES)
    return count


WAIT_FOR_MATHJAX = """async () => {
    if (!document.querySelector('.math')) return 'no math';
    for (let i = 0; i < 300 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
        await new Promise(resolve => setTimeout(resolve, 100));
    if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return 'MathJax did not start';
    await MathJax.startup.promise;
    return 'typeset';
}"""

INSPECT = """async () => {
    const images = [...document.querySelectorAll('#main-content img')];
    await Promise.all(images.map(img => {
        img.loading = 'eager';
        return img.complete ? null : new Promise(resolve => { img.onload = img.onerror = resolve; });
    }));
    const math = [...document.querySelectorAll('#main-content .math')];
    return {
        title: document.title,
        h1: [...document.querySelectorAll('article.bd-article h1')].map(h => h.textContent.trim()),
        images: images.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth, height: img.naturalHeight})),
        math: math.length,
        untypeset: math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.trim().slice(0, 80)),
        mathErrors: [...document.querySelectorAll('mjx-merror')].map(m => m.textContent.trim().slice(0, 80)),
        colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map(a => a.href),
    };
}"""


@pytest.mark.parametrize("docname", toc_pages(toc_path()))
def test_page_in_browser(docname, book, site, browser):
    chromium = browser
    page_file = book.page_file(docname)
    assert page_file.exists(), f"{docname} is in {book.toc} but was not built"
    errors: list[str] = []
    outside: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(site):
            request_route.continue_()
        else:  # the network is blocked: MathJax too must come from the book itself
            outside.append(url)
            request_route.abort()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.route("**/*", route)
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(f"uncaught exception: {error}"))
        page.on("response", lambda answer: errors.append(f"HTTP {answer.status} for {answer.url}")
                if answer.status >= 400 else None)
        response = page.goto(site + f"{docname}.html", wait_until="load")
        assert response is not None and response.ok, f"{docname}.html: HTTP {response and response.status}"
        mathjax_state = page.evaluate(WAIT_FOR_MATHJAX)
        page.wait_for_load_state("networkidle")
        found = page.evaluate(INSPECT)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{docname.replace('/', '__')}.png"), full_page=True)
    finally:
        context.close()

    where = f"{docname} ({site}{docname}.html)"
    assert not outside, f"{where} requested resources outside the book (the book must work offline): {outside}"
    assert not errors, f"{where} logged console errors: {errors}"
    assert found["title"].strip() and len(found["h1"]) == 1, f"{where} needs one title (h1), found {found['h1']}"

    broken = [image["src"] for image in found["images"] if not (image["width"] > 0 and image["height"] > 0)]
    assert not broken, f"{where}: images that did not load or have no size: {broken}"
    figures = _figure_outputs(book.page_source(docname))
    assert len(found["images"]) >= figures, (
        f"{where} shows {len(found['images'])} images, but its notebook has {figures} figure outputs"
    )

    assert mathjax_state != "MathJax did not start", f"{where}: MathJax did not load"
    assert not found["untypeset"], f"{where}: math left untypeset by MathJax: {found['untypeset']}"
    assert not found["mathErrors"], f"{where}: MathJax could not typeset: {found['mathErrors']}"

    if book.page_source(docname).suffix == ".ipynb":
        assert colab_link(docname) in found["colab"], (
            f"{where}: the Colab launch link should be {colab_link(docname)}, found {found['colab']}"
        )
    else:
        assert not found["colab"], f"{where} is not a notebook but has Colab links {found['colab']}"
