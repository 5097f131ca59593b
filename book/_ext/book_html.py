"""A fix to the book's HTML, loaded through ``sphinx: local_extensions`` in ``_config.yml``.

sphinx-thebe 0.3.1 registers its inline settings script while the documents are being read,
and Sphinx 7 then lists that script twice on every page. The second copy declares
``const THEBE_JS_URL`` again, which the browser reports as an error on every page
(tests/test_browser.py checks that pages log none). This extension drops exact duplicates
from each page's list of scripts, keeping the first copy and the order.
"""

from __future__ import annotations


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
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
