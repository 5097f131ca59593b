"""The book builds with Jupyter Book 1.x, nitpicky and warnings-as-errors, as the README's book command does."""

import pytest


def test_book_builds_without_warnings(book):
    if book.log is None:
        pytest.skip("CLR_BOOK_HTML names an existing build, so nothing was built here")
    assert book.returncode == 0, book.log[-5000:]
    assert "WARNING" not in book.log, book.log[-5000:]
    assert (book.html / "index.html").exists()


def test_every_page_of_the_table_of_contents_is_built(book):
    missing = [page for page in book.pages if not book.page_file(page).exists()]
    assert not missing, f"pages listed in {book.toc} but not built: {missing}"
