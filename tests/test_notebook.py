"""The chapters' first-cell helpers: profile choice, the printed provenance line, glue and tables."""

import sys
from pathlib import Path

import pytest

from clr_lib import evaluation, notebook


def test_start_picks_the_profile_and_says_where_the_data_comes_from(monkeypatch, capsys):
    monkeypatch.setenv("CLR_PROFILE", "smoke")
    monkeypatch.setenv("CLR_DATA_DIR", "/data/cifar10-jpeg.zip")
    assert notebook.start().name == "smoke"
    out = capsys.readouterr().out
    assert "profile 'smoke'" in out and "cores" in out
    assert "data: cifar10-jpeg.zip (" in out and "JPEG re-encode" in out
    assert "/data/" not in out  # the stored outputs print no path of the machine that ran them


def test_start_names_keras_download_without_data_dir(monkeypatch, capsys):
    monkeypatch.delenv("CLR_DATA_DIR", raising=False)
    notebook.start(profile="book")
    assert "keras.datasets" in capsys.readouterr().out


def test_start_rejects_unknown_profile():
    with pytest.raises(ValueError, match="valid profiles are smoke, book, gpu, full"):
        notebook.start(profile="fastest")


def test_glue_without_myst_nb_prints_only_when_asked(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as in Colab
    notebook.glue("accuracy", 0.5)
    assert capsys.readouterr().out == ""
    notebook.glue("accuracy", 0.5, display=True)
    assert capsys.readouterr().out == "accuracy = 0.5\n"


def test_glue_stores_floats_to_six_significant_digits(monkeypatch):
    import numpy as np

    stored = {}
    fake = type(sys)("myst_nb")
    fake.glue = lambda name, value, display=False: stored.update({name: value})
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    notebook.glue("loss", np.float32(3.4956772327423096))
    notebook.glue("sum", 471.6592233506785)
    notebook.glue("count", 12345678)
    assert stored == {"loss": 3.49568, "sum": 471.659, "count": 12345678}
    assert type(stored["loss"]) is float


def test_table_is_markdown_with_one_line_per_row():
    text = notebook.table([["a", 1], ["b", 2.5]], ["name", "value"]).data
    assert text.splitlines() == ["| name | value |", "|---|---|", "| a | 1 |", "| b | 2.5 |"]
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        notebook.table([["a"]], ["name", "value"])


def test_results_round_trip_per_profile_without_touching_other_profiles(tmp_path):
    from clr_lib import results
    from clr_lib.config import get_profile

    smoke, book = get_profile("smoke"), get_profile("book")
    results.save_chapter("ch1", {"accuracy": 0.75}, book, folder=tmp_path)
    path = results.save_chapter("ch1", {"accuracy": 0.1}, smoke, folder=tmp_path)
    assert path == tmp_path / "smoke" / "ch1.json"
    assert results.chapter_record("ch1", "book", folder=tmp_path)["accuracy"] == 0.75
    assert results.chapter_record("ch1", "smoke", folder=tmp_path)["profile"] == "smoke"
    assert not list(tmp_path.rglob("*.tmp"))


def test_missing_results_name_the_notebook_to_run(tmp_path):
    from clr_lib import results

    with pytest.raises(FileNotFoundError, match="Run that notebook first.*01_supervised_baseline.ipynb"):
        results.chapter_record("01_supervised_baseline", "book", folder=tmp_path)


def test_the_run_time_tables_are_the_notebooks_own_records(tmp_path):
    """README.md and book/how_to_run.md show the table tools/run_times.py computes from the stored
    notebooks' ``clr_run`` records; the table says which notebooks have no record."""
    from pathlib import Path

    tools = Path(__file__).parents[1] / "tools"
    sys.path.insert(0, str(tools))
    import run_times

    block = run_times.table(run_times.records())
    for path in run_times.TARGETS:
        assert f"{run_times.START}\n{block}\n{run_times.END}" in path.read_text(), \
            f"{path.name}: the run-time table is out of date; python3 tasks.py runtimes --write"
    made = tmp_path / "nb"
    made.mkdir()
    (made / "01_a.ipynb").write_text('{"metadata": {"clr_run": {"profile": "book", "seconds": 90, "hardware": "X"}}}')
    (made / "02_b.ipynb").write_text('{"metadata": {}}')
    (made / "03_c.ipynb").write_text('{"metadata": {"clr_run": {"profile": "book", "seconds": 30, "hardware": "Y", '
                                     '"cpu_flags": ["avx2", "amx_tile"]}}}')
    rows = run_times.table(run_times.records(made)).splitlines()
    assert rows[2] == "| `01_a.ipynb` | book | 1.5 min | X | not recorded |" and "not recorded" in rows[3]
    assert rows[4] == "| `03_c.ipynb` | book | 0.5 min | Y | avx2 amx_tile |"
    assert rows[-1] == "| all 2 timed | | 2.0 min | | |"


def test_mean_spread_is_the_mean_and_sample_sd_over_seeds():
    values = [0.50, 0.52, 0.54]  # mean 0.52, sample sd 0.02 (population sd would be 0.0163)
    assert notebook.mean_spread(values) == "52.0% ± 2.0%"
    with pytest.raises(ValueError, match="at least 2 seeds"):
        notebook.mean_spread([0.5])


def test_claim_sentence_reads_an_evidence_record_in_points():
    claim = evaluation.evidence("a beats b", "key", [0.60, 0.62, 0.61], [0.50, 0.52, 0.51])
    sentence = notebook.claim_sentence(claim)
    low, high = claim["interval"]
    assert sentence.startswith("+10.0 points (95% interval ")
    assert f"{100 * low:+.1f} to {100 * high:+.1f}, 3 seeds each" in sentence
    assert sentence.endswith("**supported**")


def test_difference_sentence_places_a_against_b_by_its_interval():
    text, side = notebook.difference_sentence([0.60, 0.62, 0.61], [0.50, 0.52, 0.51])
    _, low, high = evaluation.difference_interval([0.60, 0.62, 0.61], [0.50, 0.52, 0.51])
    assert text == f"+10.0 points (95% interval {100 * low:+.1f} to {100 * high:+.1f})" and side == "above"
    assert notebook.difference_sentence([0.50, 0.52, 0.51], [0.60, 0.62, 0.61])[1] == "below"
    assert notebook.difference_sentence([0.50, 0.60, 0.55], [0.52, 0.58, 0.54])[1] == "not distinguishable from"


def test_backup_dir_only_for_the_long_profiles_unless_asked(monkeypatch, tmp_path):
    from clr_lib import config

    monkeypatch.delenv(notebook.BACKUP_DIR_VAR, raising=False)
    assert notebook.backup_dir(config.get_profile("book"), "05_simclr-main") is None
    assert notebook.backup_dir(config.get_profile("gpu"), "05_simclr-main") == Path("checkpoints/gpu/05_simclr-main")
    monkeypatch.setenv(notebook.BACKUP_DIR_VAR, str(tmp_path))  # e.g. a folder on Google Drive
    assert notebook.backup_dir(config.get_profile("book"), "x") == tmp_path / "book" / "x"


def test_evidence_table_has_one_row_per_claim_in_points():
    claims = [evaluation.evidence("a beats b", "key2020", [0.60, 0.62, 0.61], [0.50, 0.52, 0.51]),
              evaluation.evidence("c beats d", "key2021", [0.50, 0.51], [0.50, 0.52])]
    lines = notebook.evidence_table(claims).data.splitlines()
    assert len(lines) == 2 + 2
    assert lines[2].startswith("| a beats b | key2020 | +10.0 | ") and lines[2].endswith("| 3 | supported |")
    assert lines[3].endswith("| 2 | inconclusive |")
