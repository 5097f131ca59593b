"""Profiles: the choice rules and the error for an unknown name."""

import dataclasses

import pytest

from clr_lib import config


def test_name_argument_wins_over_environment(monkeypatch):
    monkeypatch.setenv("CLR_PROFILE", "full")
    assert config.get_profile("smoke").name == "smoke"


def test_environment_variable_is_used_case_insensitively(monkeypatch):
    monkeypatch.setenv("CLR_PROFILE", " Book ")
    assert config.get_profile().name == "book"


@pytest.mark.parametrize("gpu, expected", [(True, "gpu"), (False, "book")])
def test_default_depends_on_gpu(monkeypatch, gpu, expected):
    monkeypatch.delenv("CLR_PROFILE", raising=False)
    monkeypatch.setattr(config, "_gpu_available", lambda: gpu)
    assert config.get_profile().name == expected


def test_this_machine_without_gpu_defaults_to_book(monkeypatch):
    monkeypatch.delenv("CLR_PROFILE", raising=False)
    import tensorflow as tf

    expected = "gpu" if tf.config.list_physical_devices("GPU") else "book"
    assert config.get_profile().name == expected


def test_unknown_profile_lists_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match="valid profiles are smoke, book, gpu, full"):
        config.get_profile("fast")
    monkeypatch.setenv("CLR_PROFILE", "tpu")
    with pytest.raises(ValueError, match="environment variable CLR_PROFILE"):
        config.get_profile()


def test_profiles_are_frozen_and_ordered_by_cost():
    smoke, book, gpu, full = (config.get_profile(n) for n in ("smoke", "book", "gpu", "full"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoke.epochs = 5
    assert smoke.epochs <= book.epochs <= gpu.epochs <= full.epochs
    assert gpu.precision == full.precision == "auto" and gpu.steps_per_execution > 1  # a GPU kept busy
    assert smoke.train_size < 50_000 and book.replace(epochs=3).epochs == 3 and book.epochs != 3
    from clr_lib.models import ENCODERS

    assert {p.encoder for p in config.PROFILES.values()} <= set(ENCODERS)


@pytest.mark.parametrize("name", [5, b"smoke", config.PROFILES["smoke"]])
def test_a_name_that_is_not_a_string_is_a_type_error(name):
    with pytest.raises(TypeError, match="get_profile takes a profile name \\(str: 'smoke', 'book', 'gpu', 'full'\\) or None"):
        config.get_profile(name)
