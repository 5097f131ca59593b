"""The book builds with Jupyter Book 1.x, nitpicky and warnings-as-errors, as the README's book command does."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_book_builds_without_warnings(tmp_path):
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    assert jupyter_book.exists(), "jupyter-book is not installed: run `python3 tasks.py test`"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert "WARNING" not in log, log[-5000:]
    assert (tmp_path / "_build" / "html" / "index.html").exists()
    shutil.rmtree(tmp_path / "_build" / ".doctrees", ignore_errors=True)
