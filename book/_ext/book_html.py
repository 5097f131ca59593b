"""The book's own additions to its HTML, loaded through ``sphinx: local_extensions`` in ``_config.yml``.

- **MathJax offline.** Sphinx loads MathJax from a CDN by default, so a book opened from
  ``_build/html`` without internet shows every formula as raw ``\\( ... \\)``. ``_config.yml``
  sets ``mathjax_path: mathjax/tex-mml-chtml.js`` (relative to ``_static``), and this extension
  copies MathJax 3's browser build there, from the copy the ``book`` extra installs (PyPI's
  ``django-static-mathjax``; no Django needed). Without it the build stops and says so.
- **The placeholder repository.** While ``repository.url`` still names the placeholder account
  ``OWNER``, every chapter page says under its title that the "open in Colab" button works once
  the course is published, and how to set the address.
- **Duplicate scripts.** sphinx-thebe 0.3.1 registers its inline settings script while the
  documents are being read, and Sphinx 7 then lists that script twice on every page. The second
  copy declares ``const THEBE_JS_URL`` again, which the browser reports as an error on every page
  (tests/test_browser.py checks that pages log none); exact duplicates are dropped, keeping the
  first copy and the order.
"""

from __future__ import annotations

import shutil
from importlib.util import find_spec
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError

PLACEHOLDER = "/OWNER/"  # in repository.url until the course is published (tools/colab_cell.py)
MATHJAX_TARGET = "mathjax"  # under _static, as mathjax_path in _config.yml says


def mathjax_files() -> Path | None:
    """MathJax 3's ``es5`` browser build from the installed ``django-static-mathjax``, or None."""
    spec = find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    return folder if (folder / "tex-mml-chtml.js").is_file() else None


def copy_mathjax(app, exception) -> None:
    """``build-finished``: put MathJax into the build's ``_static`` when ``mathjax_path`` is local."""
    if exception is not None or app.builder.format != "html" or "://" in app.config.mathjax_path:
        return
    source = mathjax_files()
    if source is None:
        raise ExtensionError(
            "The book serves MathJax itself, so that its formulas render offline, but the MathJax files are "
            "missing: install the book extra (python3 tasks.py book does), which has django-static-mathjax."
        )
    shutil.copytree(source, Path(app.outdir) / "_static" / MATHJAX_TARGET, dirs_exist_ok=True)


def placeholder_note(app, doctree, docname: str) -> None:
    """``doctree-resolved``: under a chapter's title, say that the Colab button needs the real address."""
    url = app.config.html_theme_options.get("repository_url", "")
    if PLACEHOLDER not in url or not docname.startswith("notebooks/"):
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    text = nodes.paragraph()
    text += nodes.Text("The Colab button (the rocket icon at the top of this page) opens this chapter in Google "
                       "Colab once the course is published at a real GitHub address; this build still names the "
                       "placeholder ")
    text += nodes.literal(text=url)
    text += nodes.Text(". To publish it, set ")
    text += nodes.literal(text="repository.url")
    text += nodes.Text(" in _config.yml, run ")
    text += nodes.literal(text="python3 tasks.py colab")
    text += nodes.Text(" (it updates every chapter's Colab set-up cell) and build the book again.")
    note = nodes.note("", text, classes=["colab-placeholder"])
    title = next((i for i, child in enumerate(section.children) if isinstance(child, nodes.title)), -1)
    section.insert(title + 1, note)


def _script_key(script) -> tuple:
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return filename, tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` handler: remove repeated identical ``<script>`` entries of the page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("build-finished", copy_mathjax)
    app.connect("doctree-resolved", placeholder_note)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
