"""Set up and run the course with nothing installed but Python 3.10+.

    python3 tasks.py book    # create .venv, install, build the book into _build/html
    python3 tasks.py test    # create .venv, install, run the whole test suite
    python3 tasks.py notebooks [FILE ...]   # re-run notebooks top to bottom in the book profile, saving outputs

Both commands create (or reuse) the virtual environment `.venv` in this folder and
install the course package with its `book` and `test` extras into it. Extra arguments
after `test` go to pytest, e.g. `python3 tasks.py test -k losses`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env)
    if result.returncode:
        sys.exit(result.returncode)


def ensure_env() -> None:
    """Create `.venv` and install the course into it, again whenever pyproject.toml changes."""
    if not (BIN / "python").exists():
        print(f"Creating the virtual environment {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    pyproject = (ROOT / "pyproject.toml").read_text()
    if STAMP.exists() and STAMP.read_text() == pyproject:
        return
    run(BIN / "python", "-m", "pip", "install", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "-e", ".[book,test]")
    STAMP.write_text(pyproject)


def build_book() -> None:
    run(BIN / "jupyter-book", "build", ".", "-W", "-n", "--keep-going")
    print(f"\nThe book is at {ROOT / '_build' / 'html' / 'index.html'}")


def test(pytest_args: list[str]) -> None:
    env = dict(os.environ, CLR_PROFILE="smoke")
    notebooks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))
    run(BIN / "python", "-m", "pytest", "--nbval", "--nbval-current-env",
        "--nbval-sanitize-with", "nbval_sanitize.cfg", "tests", *notebooks, *pytest_args, env=env)


def execute_notebooks(paths: list[str]) -> None:
    """Run each notebook top to bottom in a fresh kernel (profile from $CLR_PROFILE, default book), saving the outputs in place."""
    notebooks = [Path(p).resolve() for p in paths] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in notebooks:
        if not path.is_file() or path.suffix != ".ipynb":
            sys.exit(f"error: {path} is not a notebook file")
    env = dict(os.environ)
    env.setdefault("CLR_PROFILE", "book")
    for path in notebooks:
        run(BIN / "python", __file__, "_execute", path, env=env)


def _execute(path: Path) -> None:
    """Inside .venv: execute one notebook with nbclient; the file is replaced only if every cell ran."""
    import time

    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    print(f"executing {path.name} (profile {os.environ['CLR_PROFILE']}) ...", flush=True)
    nbclient.NotebookClient(notebook, timeout=None, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in notebook.cells:  # timestamps only make diffs noisy
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)
    print(f"{path.name}: done in {time.perf_counter() - start:.0f} s", flush=True)


def main(argv: list[str]) -> None:
    if argv[:1] == ["_execute"]:
        _execute(Path(argv[1]))
        return
    if not argv or argv[0] not in {"book", "test", "notebooks"}:
        sys.exit(f"usage: python3 {Path(__file__).name} book | test [pytest arguments] | notebooks [FILE ...]")
    ensure_env()
    if argv[0] == "book":
        build_book()
    elif argv[0] == "notebooks":
        execute_notebooks(argv[1:])
    else:
        test(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
