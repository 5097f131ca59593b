"""Every profile builds each chapter's models and takes a training step, on a CPU, on tiny data.

The ``gpu`` and ``full`` profiles are meant for a GPU, where nothing in CI runs them. Here each
profile's encoder, precision (``auto``: bfloat16 or float32 on this CPU) and
``steps_per_execution`` go through ``runs.train`` with every method (and chapter 1's supervised
classifier through ``compile``/``fit``), with the batch cut to 8 images, so that their code paths
run in CI. float16 (``mixed_float16``, with Keras's loss scaling) is what ``auto`` picks on a T4;
it is tested once on the smoke encoder, as a CPU computes it slowly.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from clr_lib import methods, models, precision, runs
from clr_lib.config import PROFILES
from clr_lib.data import make_synthetic

IMAGES = 16


@pytest.fixture(scope="module")
def tiny():
    x, y = make_synthetic(IMAGES, 32, num_classes=4, seed=0)
    return (x, y), (x[:8], y[:8])


def tiny_profile(name, **changes):
    # 8 images a batch, 2 steps an epoch, two steps per execution: the profile's own encoder and precision
    return PROFILES[name].replace(batch_size=8, epochs=1, knn_k=4, warmup_epochs=0.0,
                                  steps_per_execution=min(2, PROFILES[name].steps_per_execution), **changes)


@pytest.mark.parametrize("method", list(runs.METHODS))
@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_trains_every_method_one_step(name, method, tiny):
    profile = tiny_profile(name)
    settings = {"queue_size": 16} if method in ("moco", "nnclr") else {}
    model, history = runs.train(method, profile, *tiny, seed=0, **settings)
    assert np.isfinite(history["loss"]).all() and int(model.optimizer.iterations.numpy()) == IMAGES // 8
    assert model.encoder.name == models.get_encoder(profile.encoder).name
    assert model.dtype_policy.name == {"float32": "float32", "bfloat16": "mixed_bfloat16"}[
        precision.resolve(profile.precision)]


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_trains_the_supervised_baseline_one_step(name, tiny):
    profile = tiny_profile(name)
    (x, y), _ = tiny
    with precision.policy(profile.precision):
        model = methods.supervised_classifier(models.get_encoder(profile.encoder), num_classes=4)
    model.compile(keras.optimizers.AdamW(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  steps_per_execution=profile.steps_per_execution)
    history = model.fit(x, y, batch_size=profile.batch_size, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()


def test_float16_trains_with_loss_scaling(tiny):
    profile = tiny_profile("smoke", precision="float16")
    model, history = runs.train("simclr", profile, *tiny, seed=0)
    assert model.dtype_policy.name == "mixed_float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)  # compile wrapped it
    assert np.isfinite(history["loss"]).all()
