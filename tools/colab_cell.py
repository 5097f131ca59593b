"""The Colab set-up cell that opens every chapter notebook, written once, here.

    python3 tasks.py colab                  # insert or update the cell in every notebooks/*.ipynb
    python3 tasks.py colab FILE ...         # ... in these notebooks only
    python3 tasks.py colab --check          # change nothing; list the notebooks that need it, exit 1 if any

(``tasks.py colab`` runs this file with the project's ``.venv``; ``.venv/bin/python
tools/colab_cell.py ...`` does the same.)

The cell is the first cell of each notebook. In Google Colab it installs the course package
from the repository that ``_config.yml`` names once (``repository.url`` and
``repository.branch``, the same settings behind the book's "open in Colab" buttons) and
chooses the profile: ``gpu`` on a GPU runtime, ``book`` otherwise; a comment in the cell says
how to switch. CIFAR-10 then comes from Keras's own
download, because ``CLR_DATA_DIR`` is not set there. Anywhere else the cell does nothing and
prints nothing, so ``pytest --nbval`` passes on it and the book-profile outputs stay untouched.

The cell carries two tags: ``colab-setup``, by which this tool (and ``tests/test_colab.py``)
finds it again, and ``remove-cell``, so the book leaves it out and each page starts with its
chapter's title. The tool is idempotent: it rewrites a notebook only when the cell is missing,
not first, or differs from :func:`cell_source` (for example after ``repository.url`` changed),
and it keeps every other cell as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"
NOTEBOOKS = ROOT / "notebooks"
TAG = "colab-setup"
TAGS = [TAG, "remove-cell"]
CELL_ID = "colab-setup"
PLACEHOLDER = "OWNER"  # the account name _config.yml holds until the repository is published

TEMPLATE = '''\
# Set-up for Google Colab: installs the course package there. Elsewhere this cell does nothing.
import sys

if "google.colab" in sys.modules:
    %pip install -q "{requirement}"
    import os

    import tensorflow as tf

    # The profile sets every size in the chapter. None picks `gpu` (about half an hour a chapter on
    # a T4) on a GPU runtime (Runtime > Change runtime type > GPU) and `book` (CPU-sized) otherwise;
    # to switch, write "smoke", "book", "gpu" or "full" (published scale, hours) instead of None,
    # then Runtime > Run all.
    colab_profile = None
    os.environ["CLR_PROFILE"] = colab_profile or ("gpu" if tf.config.list_physical_devices("GPU") else "book")
    # CIFAR-10 comes from Keras's own download here (CLR_DATA_DIR is not set).
    # In the `gpu` and `full` profiles the long training cells save a checkpoint after every epoch and
    # resume from it when run again; by default in checkpoints/ on the runtime's disk, which a reset
    # erases. True keeps them on your Google Drive instead (Colab asks for access), so a reset loses
    # at most one epoch: re-run the notebook and the interrupted cell continues.
    keep_checkpoints_on_drive = False
    if keep_checkpoints_on_drive:
        from google.colab import drive

        drive.mount("/content/drive")
        os.environ["CLR_BACKUP_DIR"] = "/content/drive/MyDrive/clr-checkpoints"
    print(f"clr-lib installed from {repository}@{branch}; profile {{os.environ['CLR_PROFILE']}}")
'''


def repository(config_path: Path = CONFIG) -> tuple[str, str]:
    """``(url, branch)`` of the course repository, from ``repository`` in ``_config.yml``."""
    import yaml

    settings = (yaml.safe_load(config_path.read_text()) or {}).get("repository") or {}
    url = str(settings.get("url") or "").strip().rstrip("/")
    branch = str(settings.get("branch") or "").strip()
    if not url.startswith("https://") or not branch:
        raise ValueError(
            f"{config_path} needs repository.url (an https:// address of the course repository) and "
            f"repository.branch; got url={url!r}, branch={branch!r}."
        )
    return url, branch


def requirement(url: str, branch: str) -> str:
    """The pip requirement that installs the course package, with its ``viz`` extra, from ``url`` at ``branch``."""
    return f"clr-lib[viz] @ git+{url}@{branch}"


def cell_source(url: str, branch: str) -> str:
    """The canonical source of the set-up cell for the repository ``url`` at ``branch``."""
    return TEMPLATE.format(requirement=requirement(url, branch), repository=url, branch=branch).rstrip("\n")


def make_cell(url: str, branch: str):
    """The set-up cell as an ``nbformat`` code cell (no outputs, fixed id, tagged)."""
    import nbformat

    cell = nbformat.v4.new_code_cell(cell_source(url, branch))
    cell.id = CELL_ID
    cell.metadata["tags"] = list(TAGS)
    return cell


def _is_setup_cell(cell) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def is_current(notebook, url: str, branch: str) -> bool:
    """Whether the notebook's first cell is the set-up cell, up to date, and the only one."""
    cells = notebook.cells
    if not cells or not _is_setup_cell(cells[0]) or cells[0].cell_type != "code":
        return False
    first = cells[0]
    return (
        first.source == cell_source(url, branch)
        and first.metadata.get("tags") == TAGS
        and not any(_is_setup_cell(cell) for cell in cells[1:])
    )


def apply(path: Path, url: str, branch: str, check: bool = False) -> bool:
    """Make the set-up cell the first cell of the notebook at ``path``; return whether it had to change.

    With ``check=True`` nothing is written. An existing cell tagged ``colab-setup`` is replaced (its
    outputs and execution count are kept when only its source changes), wherever it was.
    """
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    if is_current(notebook, url, branch):
        return False
    if check:
        return True
    old = [cell for cell in notebook.cells if _is_setup_cell(cell)]
    cell = make_cell(url, branch)
    if old and old[0].cell_type == "code":
        cell.outputs, cell.execution_count = old[0].get("outputs", []), old[0].get("execution_count")
    taken = {c.get("id") for c in notebook.cells if not _is_setup_cell(c)}
    if CELL_ID in taken:  # cell ids must be unique within a notebook
        raise ValueError(f"{path}: another cell already has the id {CELL_ID!r}; rename it and run again.")
    notebook.cells = [cell] + [c for c in notebook.cells if not _is_setup_cell(c)]
    if notebook.nbformat_minor < 5:  # cell ids need nbformat 4.5
        notebook.nbformat_minor = 5
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to update (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook needs the cell")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the book's _config.yml (default: %(default)s)")
    args = parser.parse_args(argv)

    url, branch = repository(args.config)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        if path.suffix != ".ipynb" or not path.is_file():
            parser.error(f"{path} is not a notebook file")
    if PLACEHOLDER in url:
        print(f"note: repository.url in {args.config.name} is still the placeholder {url}; the Colab install "
              "works once it names the published repository and this command has run again.", file=sys.stderr)

    changed = [path for path in paths if apply(path, url, branch, check=args.check)]
    for path in changed:
        print(f"{'needs the set-up cell' if args.check else 'updated'}: {path}")
    print(f"{len(paths) - len(changed)} of {len(paths)} notebooks already had the current Colab set-up cell.")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
