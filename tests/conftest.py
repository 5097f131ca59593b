"""Quiet TensorFlow start-up and draw figures off-screen in every test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    """The book (a ``book_site.Book``), built once per session for every test that checks it (see
    tests/book_site.py). Imported here, not at the top: it needs the book extra (PyYAML, Jupyter Book),
    which the library's own tests do not (``python3 tasks.py oldest`` runs them without it)."""
    from book_site import build

    return build(tmp_path_factory.mktemp("book"))
