"""Set up and run the course with nothing installed but Python 3.10+.

    python3 tasks.py book    # create .venv, install, build the book into _build/html
    python3 tasks.py test    # create .venv, install, run the whole test suite
    python3 tasks.py notebooks [FILE ...]   # re-run notebooks top to bottom in the book profile, saving outputs
    python3 tasks.py colab [--check] [FILE ...]   # put the Colab set-up cell first in every notebook (tools/colab_cell.py)
    python3 tasks.py reference   # copy the book's result files into the package (clr_lib/reference)
    python3 tasks.py runtimes [--write | --check]   # the table of how long each stored notebook run took
    python3 tasks.py figures [--check]   # draw the figures of the Markdown pages into book/images (tools/figures.py)
    python3 tasks.py oldest [pytest arguments]   # the library's tests with the oldest versions pyproject.toml admits

Both commands create (or reuse) the virtual environment `.venv` in this folder and
install the course package with its `book` and `test` extras into it. Extra arguments
after `test` go to pytest, e.g. `python3 tasks.py test -k losses`. `test` also installs
Debian's `chromium` package for the browser test of the book when it is missing and the
command runs as root (otherwise that test is skipped and says how to install it).
"""

from __future__ import annotations

import os
import shutil
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


def ensure_chromium() -> None:
    """Install Debian's chromium for tests/test_browser.py when it is missing and we may (root, apt-get)."""
    if os.environ.get("CLR_CHROMIUM") or any(shutil.which(name) for name in ("chromium", "chromium-browser")):
        return
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        print("note: Chromium is missing, so the browser test of the book will be skipped; "
              "install it with `sudo apt-get install chromium`.", flush=True)
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        print("+", " ".join(command), flush=True)
        if subprocess.run(command, env=env).returncode:
            print("note: installing chromium failed; the browser test of the book will be skipped.", flush=True)
            return


def test(pytest_args: list[str]) -> None:
    ensure_chromium()
    env = dict(os.environ, CLR_PROFILE="smoke")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
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
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter would land in the outputs
    for path in notebooks:
        run(BIN / "python", __file__, "_execute", path, env=env)
    if env["CLR_PROFILE"] == "book":
        copy_reference()


REFERENCE = ROOT / "clr_lib" / "reference"
REFERENCE_SOURCES = {"book": ROOT / "notebooks" / "results" / "book", "benchmarks": ROOT / "benchmarks" / "results"}


def copy_reference() -> None:
    """Ship the book's result files with the package, so that a chapter opened alone (in Colab) can
    read them: ``notebooks/results/book/*.json`` and ``benchmarks/results/*.json`` into ``clr_lib/reference``.
    Files that no longer exist at the source are removed from the copy."""
    for name, source in REFERENCE_SOURCES.items():
        target = REFERENCE / name
        target.mkdir(parents=True, exist_ok=True)
        wanted = {path.name for path in source.glob("*.json")}
        for stale in target.glob("*.json"):
            if stale.name not in wanted:
                stale.unlink()
        for file in sorted(wanted):
            shutil.copyfile(source / file, target / file)
    print(f"copied the book's result files into {REFERENCE.relative_to(ROOT)}", flush=True)


OLDEST_VENV = ROOT / ".venv-oldest"


def oldest_pins() -> list[str]:
    """``name==X`` for every ``name>=X`` among the package's dependencies and its ``test`` extra: the
    oldest versions pyproject.toml admits, which a user with an old environment may have."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = []
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)", requirement)
        if match:
            pins.append(f"{match[1]}=={match[2]}")
    return pins


def test_oldest(pytest_args: list[str]) -> None:
    """Install the package with its oldest admitted dependencies into .venv-oldest and run the library's
    tests there (smoke profile; the book's build and the notebooks need the book extra, not tested here)."""
    python = OLDEST_VENV / ("Scripts" if os.name == "nt" else "bin") / "python"
    if not python.exists():
        venv.create(OLDEST_VENV, with_pip=True)
    constraints = OLDEST_VENV / "oldest-constraints.txt"
    constraints.write_text("\n".join(oldest_pins()) + "\n")
    print("oldest versions admitted:", ", ".join(oldest_pins()), flush=True)
    run(python, "-m", "pip", "install", "-q", "-c", constraints, "-e", ".[test]")
    run(python, "-m", "pip", "list", "--format=freeze")
    env = dict(os.environ, CLR_PROFILE="smoke")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    book_tests = ["test_book.py", "test_pages.py", "test_browser.py", "test_links.py", "test_lone_chapter.py",
                  "test_nbval_numbers.py", "test_figures.py", "test_colab.py"]
    run(python, "-m", "pytest", "tests", *(f"--ignore=tests/{name}" for name in book_tests), *pytest_args, env=env)


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
    seconds = time.perf_counter() - start
    for cell in notebook.cells:  # timestamps and TensorFlow's C++ start-up lines on stderr are not results
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs if out.get("name") != "stderr"]
    from clr_lib.config import hardware
    from clr_lib.precision import speed_flags

    # how long the stored run took, and where: the run-time table of the README and how_to_run.md
    notebook.metadata["clr_run"] = {"profile": os.environ["CLR_PROFILE"], "seconds": round(seconds),
                                    "hardware": hardware(), "cpu_flags": speed_flags()}
    nbformat.write(notebook, path)
    print(f"{path.name}: done in {seconds:.0f} s", flush=True)


def main(argv: list[str]) -> None:
    if argv[:1] == ["_execute"]:
        _execute(Path(argv[1]))
        return
    if argv[:1] == ["reference"]:
        copy_reference()
        return
    if argv[:1] == ["runtimes"]:
        run(sys.executable, ROOT / "tools" / "run_times.py", *argv[1:])
        return
    if argv[:1] == ["oldest"]:
        test_oldest(argv[1:])
        return
    if not argv or argv[0] not in {"book", "test", "notebooks", "colab", "figures"}:
        sys.exit(f"usage: python3 {Path(__file__).name} book | test [pytest arguments] | notebooks [FILE ...]"
                 " | colab [--check] [FILE ...] | figures [--check] | reference | runtimes [--write | --check]"
                 " | oldest [pytest arguments]")
    ensure_env()
    if argv[0] == "book":
        build_book()
    elif argv[0] == "notebooks":
        execute_notebooks(argv[1:])
    elif argv[0] == "colab":
        run(BIN / "python", ROOT / "tools" / "colab_cell.py", *argv[1:])
    elif argv[0] == "figures":
        run(BIN / "python", ROOT / "tools" / "figures.py", *argv[1:])
    else:
        test(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
