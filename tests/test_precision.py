"""bfloat16 where the CPU has it: the choice, the policy's scope, and training under it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from clr_lib import augment, data, methods, models, pipeline, precision


@pytest.mark.parametrize("flags, speedup, expected", [
    ({"avx2", "avx512f", "avx512_bf16"}, 2.0, "bfloat16"),
    ({"avx2", "amx_bf16", "amx_tile"}, 1.6, "bfloat16"),
    ({"avx2", "avx512f", "avx512_bf16", "avx512_fp16"}, 0.74, "float32"),  # the instructions, but slower
    ({"avx2", "avx512f", "avx512_bf16"}, 1.05, "float32"),  # not worth a policy change
    ({"avx2", "avx512f", "avx512_vnni"}, 3.0, "float32"),  # AVX-512 without BF16 emulates it
    (set(), 3.0, "float32"),
])
def test_auto_takes_bfloat16_only_where_the_cpu_computes_it_faster(flags, speedup, expected):
    assert precision.resolve("auto", flags, gpu=None, speedup=speedup) == expected
    assert precision.resolve("float32", flags) == "float32" and precision.resolve("bfloat16", flags) == "bfloat16"


def test_auto_measures_this_cpu_once():
    speedup = precision.bfloat16_speedup()
    assert speedup > 0 and precision.bfloat16_speedup() == speedup  # cached: measured once per process
    chosen = precision.resolve("auto", {"avx512_bf16"}, gpu=None)
    assert chosen == ("bfloat16" if speedup >= 1.1 else "float32")


def test_matmul_rate_is_the_flops_over_the_time_of_one_matmul():
    import time

    a = tf.random.normal((512, 512))
    tf.matmul(a, a).numpy()
    start = time.perf_counter()
    for _ in range(5):
        tf.matmul(a, a).numpy()
    eager = 5 * 2 * 512**3 / (time.perf_counter() - start) / 1e9  # eager, so slower than a tf.function
    rate = precision.matmul_gflops("float32", 512, 5)
    assert 0.5 * eager < rate < 1000


@pytest.mark.parametrize("capability, expected", [((7, 5), "float16"), ((8, 0), "bfloat16"), ((8, 9), "bfloat16")])
def test_auto_on_a_gpu_is_float16_before_ampere_and_bfloat16_after(capability, expected):
    assert precision.resolve("auto", set(), gpu=capability) == expected  # a T4 is 7.5, an A100 8.0, an L4 8.9


def test_cpu_flags_are_this_machines():
    with open("/proc/cpuinfo") as f:
        line = next(line for line in f if line.startswith("flags"))
    assert precision.cpu_flags() == set(line.split(":", 1)[1].split())


def test_speed_flags_are_the_listed_flags_the_cpu_has_in_the_list_s_order(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"amx_bf16", "sse2", "avx2", "avx512f"})
    assert precision.speed_flags() == ["avx2", "avx512f", "amx_bf16"]


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="'auto', 'float32', 'bfloat16', 'float16'"):
        precision.resolve("fp16")


def test_policy_applies_inside_the_block_and_is_restored_after_it():
    before = keras.config.dtype_policy().name
    with precision.policy("bfloat16") as chosen:
        layer = keras.layers.Dense(4)
        layer.build((None, 3))
    assert chosen == "bfloat16" and layer.compute_dtype == "bfloat16" and layer.kernel.dtype == "float32"
    assert keras.config.dtype_policy().name == before
    with pytest.raises(RuntimeError), precision.policy("bfloat16"):
        raise RuntimeError("a failure inside the block")
    assert keras.config.dtype_policy().name == before


def test_simclr_trains_in_bfloat16_with_float32_weights_and_loss():
    x, _ = data.make_synthetic(64, 16, seed=0)
    views = next(iter(pipeline.pretraining_dataset(x, 32, augment.simclr_augment(image_size=16, seed=0), seed=0)))
    with precision.policy("bfloat16"):
        model = methods.SimCLR(models.small_cnn((8, 16), input_shape=(16, 16, 3)), projection_dims=(32, 16))
    convs = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(c.compute_dtype == "bfloat16" and c.kernel.dtype == "float32" for c in convs)
    assert model.project(views[0]).dtype == tf.bfloat16
    before, _ = model.contrastive_loss(*views)
    assert before.dtype == tf.float32
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    fixed = tf.data.Dataset.from_tensors(views).repeat()
    history = model.fit(fixed, steps_per_epoch=25, epochs=1, verbose=0).history["loss"]
    after, _ = model.contrastive_loss(*views)
    assert np.isfinite(history).all() and float(after) < float(before) - 0.2  # it learnt the batch


def test_the_chapters_training_call_builds_under_the_profiles_precision():
    from clr_lib import config, runs

    profile = config.get_profile("smoke").replace(batch_size=32, epochs=1, precision="bfloat16", knn_k=5)
    x, y = data.make_synthetic(64, 32, seed=0)
    model, history = runs.train("simclr", profile, (x, y), (x[:32], y[:32]))
    assert model.encoder.layers[-1].compute_dtype == "bfloat16" and np.isfinite(history["loss"]).all()
    assert keras.config.dtype_policy().name == "float32"  # nothing leaks into the next chapter cell
