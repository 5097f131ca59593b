"""Quiet TensorFlow start-up and draw figures off-screen in every test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")


import pytest  # noqa: E402

from book_site import Book, build  # noqa: E402


@pytest.fixture(scope="session")
def book(tmp_path_factory) -> Book:
    """The book, built once per session for every test that checks it (see tests/book_site.py)."""
    return build(tmp_path_factory.mktemp("book"))
