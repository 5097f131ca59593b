"""Reading committed result files: budget runs, chapter records, label-efficiency curves."""

import json
from pathlib import Path

import pytest

from clr_lib import results
from clr_lib.config import get_profile, hardware

RUN = {  # the shape of a benchmarks/budget.py entry (numbers of its first 20-minute SimCLR run)
    "method": "simclr", "images_seen": 288000, "knn_top1": 0.5331, "linear_probe_top1": 0.6202,
    "wall_seconds": 1200.5, "load_seconds": 0.5, "peak_memory_mb": 2165.7, "epochs": 5.76,
}
COMMANDS = {"simclr-20min": "python benchmarks/budget.py --method simclr --tag simclr-20min",
            "dcl-20min": "python benchmarks/budget.py --method dcl --tag dcl-20min"}


def test_load_budget_returns_the_named_runs_in_order(tmp_path):
    path = tmp_path / "budget.json"
    path.write_text(json.dumps({"dcl-20min": RUN | {"method": "dcl"}, "other": RUN, "simclr-20min": RUN}))
    runs = results.load_budget(path, COMMANDS)
    assert list(runs) == ["simclr-20min", "dcl-20min"]
    assert runs["dcl-20min"]["method"] == "dcl"


def test_load_budget_names_the_command_of_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="--tag simclr-20min"):
        results.load_budget(tmp_path / "budget.json", COMMANDS)
    path = tmp_path / "budget.json"
    path.write_text(json.dumps({"simclr-20min": RUN}))
    with pytest.raises(ValueError, match="no run 'dcl-20min'.*\n.*--method dcl --tag dcl-20min") as error:
        results.load_budget(path, COMMANDS)
    assert "--tag simclr-20min" not in str(error.value)  # only the missing run's command


def test_runs_on_both_machines_pairs_seed_0_with_each_method_s_second_machine_seed(tmp_path):
    first = {"cpu": "Xeon", "cpu_flags": ["avx2", "avx512f"]}
    second = {"cpu": "Xeon", "cpu_flags": ["avx2", "avx512f", "amx_tile"]}
    stored = {"simclr-20min-seed0": RUN | {"environment": first},
              "simclr-20min-seed1": RUN | {"knn_top1": 0.1, "environment": first},  # not the second machine's
              "simclr-20min-seed2": RUN | {"knn_top1": 0.6, "environment": second},
              "nnclr-20min-seed0": RUN | {"method": "nnclr", "knn_top1": 0.5, "environment": first},
              "nnclr-20min-seed1": RUN | {"method": "nnclr", "knn_top1": 0.55, "environment": second}}
    path = tmp_path / "budget.json"
    path.write_text(json.dumps(stored))
    both = results.runs_on_both_machines(path, ("nnclr", "simclr"))
    assert list(both) == ["nnclr", "simclr"]
    assert [(run["seed"], run["knn_top1"]) for run in both["simclr"]] == [(0, 0.5331), (2, 0.6)]
    assert [(run["seed"], run["knn_top1"]) for run in both["nnclr"]] == [(0, 0.5), (1, 0.55)]
    assert both["nnclr"][1]["machine"] == "Xeon, flags avx2 avx512f amx_tile"
    assert both["nnclr"][0]["images_per_second"] == 240.0  # each run is its budget_summary
    del stored["nnclr-20min-seed1"]
    path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="no run 'nnclr-20min-seed1'.*\n.*--method nnclr .*--seed 1"):
        results.runs_on_both_machines(path, ("nnclr", "simclr"))
    with pytest.raises(ValueError, match="'byol'"):
        results.runs_on_both_machines(path, ("byol",))


def test_budget_summary_counts_images_per_second_of_training():
    summary = results.budget_summary(RUN)
    assert summary["train_seconds"] == 1200.0  # wall time minus loading the data
    assert summary["images_per_second"] == 240.0  # 288,000 images / 1,200 s
    assert summary["cores_used"] is None  # not recorded by this run
    assert results.budget_summary(RUN | {"training_cores_used": 1.9})["cores_used"] == 1.9
    with pytest.raises(ValueError, match="lacks peak_memory_mb"):
        results.budget_summary({k: v for k, v in RUN.items() if k != "peak_memory_mb"})
    with pytest.raises(ValueError, match="must be > 0"):
        results.budget_summary(RUN | {"wall_seconds": 0.5})
    # the speed alone needs only the images and the times (a run that recorded no peak memory)
    assert results.images_per_second({k: v for k, v in RUN.items() if k != "peak_memory_mb"}) == 240.0
    with pytest.raises(ValueError, match="must be > 0"):
        results.images_per_second(RUN | {"wall_seconds": 0.5})


def test_chapter_record_reads_the_profile_folder_and_checks_the_profile(tmp_path):
    results.write_json(tmp_path / "book" / "05_simclr.json", {"profile": "book", "x": 1})
    results.write_json(tmp_path / "smoke" / "05_simclr.json", {"profile": "smoke", "x": 2})
    assert results.chapter_record("05_simclr", "book", tmp_path)["x"] == 1
    assert results.chapter_record("05_simclr", "smoke", tmp_path)["x"] == 2
    results.write_json(tmp_path / "full" / "07_dcl.json", {"profile": "book"})  # a file copied to the wrong folder
    with pytest.raises(ValueError, match="profile 'book', not 'full'"):
        results.chapter_record("07_dcl", "full", tmp_path)
    with pytest.raises(FileNotFoundError, match="CLR_PROFILE=full python3 tasks.py notebooks notebooks/06_moco.ipynb"):
        results.chapter_record("06_moco", "full", tmp_path, fall_back=False)


def test_write_json_is_atomic_and_keeps_the_old_file_on_failure(tmp_path):
    path = results.write_json(tmp_path / "a" / "r.json", {"x": 1.5})
    assert json.loads(path.read_text()) == {"x": 1.5}
    with pytest.raises(TypeError):
        results.write_json(path, {"x": object()})  # not JSON: the write fails half-way ...
    assert json.loads(path.read_text()) == {"x": 1.5}  # ... and the old file is intact, with no temporary left
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_label_curve_reads_chapter_one_layout_sorted_by_labels():
    record = {"fractions": {"1.0": {"labels": 50000, "test_top1": 0.8}, "0.01": {"labels": 500, "test_top1": 0.3},
                            "0.1": {"labels": 5000, "test_top1": 0.5}}}
    assert results.label_curve(record, "test_top1") == {500: 0.3, 5000: 0.5, 50000: 0.8}
    assert list(results.label_curve({"label_efficiency": {"0.1": {"labels": 10, "acc": 0.4}}, **record}, "acc")) == [10]
    with pytest.raises(ValueError, match="needs 'labels' and 'knn_top1'"):
        results.label_curve(record, "knn_top1")
    with pytest.raises(ValueError, match="no label-efficiency table"):
        results.label_curve({"profile": "book"}, "test_top1")


def test_read_json_says_how_to_produce_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="search.json not found: produce it with runs/search.sh"):
        results.read_json(tmp_path / "search.json", "produce it with runs/search.sh")
    (tmp_path / "a.json").write_text('{"x": 1}')
    assert results.read_json(tmp_path / "a.json", "-") == {"x": 1}


def baseline_record():
    return {
        "fractions": {"0.01": {"labels": 500, "test_top1": 0.3, "knn_top1": 0.25},
                      "1.0": {"labels": 50000, "test_top1": 0.8, "knn_top1": 0.7},
                      "0.1": {"labels": 5000, "test_top1": 0.5, "knn_top1": 0.45}},
    }


def test_supervised_baseline_round_trips_atomically_with_profile_and_hardware(tmp_path):
    smoke = get_profile("smoke")
    record = baseline_record()
    path = results.save_chapter("supervised_baseline", record, smoke, tmp_path / "results")
    assert path == tmp_path / "results" / "smoke" / "supervised_baseline.json"
    stored = results.supervised_baseline("smoke", tmp_path / "results")
    assert stored == {"profile": "smoke", "hardware": hardware(), **record}
    record["fractions"]["1.0"]["test_top1"] = 0.9  # overwriting replaces the file, leaving nothing else behind
    results.save_chapter("supervised_baseline", record, smoke, tmp_path / "results")
    assert [p.name for p in (tmp_path / "results" / "smoke").iterdir()] == ["supervised_baseline.json"]
    assert results.supervised_baseline("smoke", tmp_path / "results")["fractions"]["1.0"]["test_top1"] == 0.9


def test_reference_lines_name_each_fraction_largest_first():
    lines = results.reference_lines(baseline_record())
    assert lines == {"supervised, 100% labels": 0.8, "supervised, 10% labels": 0.5, "supervised, 1% labels": 0.3}
    assert list(results.reference_lines(baseline_record(), "knn_top1").values()) == [0.7, 0.45, 0.25]
    with pytest.raises(ValueError, match="not recorded"):
        results.reference_lines(baseline_record(), "linear_probe_top1")


def test_supervised_baseline_missing_or_of_another_profile_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="CLR_PROFILE=book python3 tasks.py notebooks notebooks/01_supervised_baseline.ipynb"):
        results.chapter_record("supervised_baseline", "book", tmp_path, notebook="01_supervised_baseline.ipynb",
                               fall_back=False)
    path = results.chapter_path("supervised_baseline", "book", tmp_path)
    path.parent.mkdir()
    path.write_text(json.dumps({"profile": "smoke", **baseline_record()}))
    with pytest.raises(ValueError, match="profile 'smoke', not 'book'"):
        results.supervised_baseline("book", tmp_path)


@pytest.mark.parametrize("content, message", [("{", "cannot be read as JSON"), ("[1]", "holds no JSON object")])
def test_read_json_names_a_corrupt_or_foreign_file_and_the_fix(tmp_path, content, message):
    (tmp_path / "a.json").write_text(content)
    with pytest.raises(ValueError, match=f"a.json {message}.*: run it again"):
        results.read_json(tmp_path / "a.json", "run it again")


ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SOURCES = {"book": ROOT / "notebooks" / "results" / "book", "benchmarks": ROOT / "benchmarks" / "results"}


@pytest.mark.parametrize("name", list(REFERENCE_SOURCES))
def test_the_shipped_reference_equals_the_committed_result_files(name):
    source, shipped = REFERENCE_SOURCES[name], ROOT / "clr_lib" / "reference" / name
    committed = sorted(path.name for path in source.glob("*.json"))
    assert committed and sorted(path.name for path in shipped.glob("*.json")) == committed, \
        "the package's copy is out of date: python3 tasks.py reference"
    for file in committed:
        assert (shipped / file).read_bytes() == (source / file).read_bytes(), \
            f"clr_lib/reference/{name}/{file} differs from the committed file: python3 tasks.py reference"


def test_a_missing_chapter_record_falls_back_to_the_shipped_book_numbers(tmp_path, capsys):
    record = results.supervised_baseline("smoke", tmp_path)
    assert record == json.loads((REFERENCE_SOURCES["book"] / "supervised_baseline.json").read_text())
    said = capsys.readouterr().out
    assert "shipped with clr_lib" in said and "profile 'book'" in said and "01_supervised_baseline.ipynb" in said
    with pytest.raises(FileNotFoundError, match="Run that notebook first"):
        results.chapter_record("supervised_baseline", "smoke", tmp_path, fall_back=False)
    results.save_chapter("supervised_baseline", baseline_record(), get_profile("smoke"), tmp_path)  # this runtime's wins
    assert results.supervised_baseline("smoke", tmp_path)["profile"] == "smoke"


def test_a_missing_benchmark_file_falls_back_to_the_shipped_copy(tmp_path, capsys):
    assert results.benchmark_file("budget.json", tmp_path) == results.shipped("benchmarks", "budget.json")
    assert "shipped with clr_lib" in capsys.readouterr().out
    (tmp_path / "budget.json").write_text("{}")
    assert results.benchmark_file("budget.json", tmp_path) == tmp_path / "budget.json"
    assert results.benchmark_file("nothing.json", tmp_path) == tmp_path / "nothing.json"  # read_json then says why


def test_recorded_study_is_reused_only_when_it_is_the_study_the_caller_would_run(tmp_path):
    profile = get_profile("smoke")
    record = {"encoder": profile.encoder, "epochs": profile.epochs, "batch_size": profile.batch_size,
              "view_size": profile.view_size or 32, "train_images": 512, "test_images": 256, "seeds": [0, 1],
              "knn": {"k": profile.knn_k, "temperature": profile.knn_temperature},
              "random_encoder_knn": [0.2, 0.21], "ablation": {"crop": {"runs": [{"knn": 0.3}, {"knn": 0.31}]}}}

    def reuse(**changes):
        results.save_chapter("03_augmentations", record | changes, profile, tmp_path)
        return results.recorded_study("03_augmentations", profile, 512, 256, [0, 1], tmp_path)

    assert reuse()["ablation"] == record["ablation"]
    assert results.recorded_study("03_augmentations", profile, 512, 256, (0, 1), tmp_path) is not None  # a tuple
    assert results.recorded_study("03_augmentations", profile, 256, 256, [0, 1], tmp_path) is None  # other images
    assert results.recorded_study("03_augmentations", profile, 512, 128, [0, 1], tmp_path) is None  # other test set
    assert results.recorded_study("03_augmentations", profile, 512, 256, [0, 1, 2], tmp_path) is None  # other seeds
    assert reuse(epochs=profile.epochs + 1) is None
    assert reuse(view_size=16) is None
    assert reuse(encoder="resnet18_cifar") is None
    assert reuse(knn={"k": 1, "temperature": profile.knn_temperature}) is None
    assert results.recorded_study("05_simclr", profile, 512, 256, [0, 1], tmp_path) is None  # no file
    assert results.recorded_study("03_augmentations", get_profile("book"), 10_000, 10_000, [0, 1, 2], tmp_path) is None


def test_recorded_main_run_is_reused_only_when_it_is_the_run_the_caller_would_train(tmp_path):
    profile = get_profile("smoke")
    history = {"val_knn_acc": [0.3, 0.4], "loss": [5.0, 4.0]}
    main = {"epochs": profile.epochs, "batch_size": profile.batch_size, "train_images": 512,
            "history": {"simclr": history}}
    record = {"encoder": profile.encoder, "temperature": 0.2, "main": main,
              "knn": {"k": profile.knn_k, "temperature": profile.knn_temperature}}

    def reuse(**changes):
        results.save_chapter("07_dcl", record | changes, profile, tmp_path)
        return results.recorded_main_run("07_dcl", "simclr", profile, 512, 0.2, tmp_path)

    assert reuse() == {"knn_top1": 0.4, "history": history, "chapter": "07_dcl"}
    assert results.recorded_main_run("07_dcl", "nnclr", profile, 512, 0.2, tmp_path) is None  # no such method
    assert results.recorded_main_run("07_dcl", "simclr", profile, 256, 0.2, tmp_path) is None  # other images
    assert results.recorded_main_run("07_dcl", "simclr", profile, 512, 0.1, tmp_path) is None  # other temperature
    assert reuse(encoder="resnet18_cifar") is None
    assert reuse(main=main | {"epochs": profile.epochs + 1}) is None
    assert reuse(knn={"k": 1, "temperature": profile.knn_temperature}) is None
    assert results.recorded_main_run("06_moco", "simclr", profile, 512, 0.2, tmp_path) is None  # no file
    # a chapter that recorded only the final accuracy of its run (chapter 5): no history to plot
    only_final = main.copy()
    del only_final["history"]
    assert reuse(main=only_final | {"simclr_knn_top1": 0.55}) == {"knn_top1": 0.55, "history": None, "chapter": "07_dcl"}
    assert reuse(main=only_final) is None  # neither a history nor a final accuracy of simclr
    # never the copy shipped with the package: a run to compare with must come from this runtime
    assert results.recorded_main_run("06_moco", "simclr", get_profile("book"), 50_000, 0.2, tmp_path) is None
