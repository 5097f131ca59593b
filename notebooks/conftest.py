"""nbval settings for the chapter notebooks: never compare what goes to stderr.

TensorFlow's C++ runtime writes start-up lines (``cudart_stub.cc``, ``absl::InitializeLog``) straight
to the process's stderr, and ipykernel forwards them to whichever cell is running when they
arrive, or not at all: they are not the notebook's results. Every other output is compared.
"""


def pytest_collection_modifyitems(items):
    for item in items:
        notebook = getattr(item, "parent", None)
        skip = getattr(notebook, "skip_compare", None)
        if skip is not None and "stderr" not in skip:
            notebook.skip_compare = (*skip, "stderr")
