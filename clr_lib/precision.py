"""Numeric precision of training: bfloat16 where the hardware computes it natively, float16 on
older GPUs, float32 elsewhere.

Keras's ``mixed_bfloat16`` policy keeps every weight in float32 and runs the layers' matmuls
and convolutions in bfloat16 (8 bits of mantissa, float32's range, so no loss scaling is
needed). Having the instructions is not enough: a 2-core AMD EPYC with AVX-512 BF16 and a Xeon
with AMX ran the book's SimCLR step about 1.5-2x faster in bfloat16, but a Xeon with AVX-512 BF16
and no AMX ran a 2048 x 2048 matmul at 143 GFLOP/s in bfloat16 against 263 in float32, and the
step 0.74x as fast (``benchmarks/throughput.py``). So ``"auto"`` measures before it chooses.
The losses, the softmax, the queues and the kNN evaluation cast to float32 themselves
(``clr_lib.losses``, ``FifoQueue``, ``evaluation.extract_features``), so only the network's
arithmetic changes.

On a GPU, ``mixed_float16`` (half precision with Keras's dynamic loss scaling: ``compile``
wraps the optimizer in a ``LossScaleOptimizer`` under that policy, and every method's
``train_step`` scales its loss through ``optimizer.scale_loss``) suits GPUs without bfloat16,
such as Colab's T4; GPUs of compute capability 8 or more (A100, L4) do bfloat16.

``Profile.precision`` names the choice: ``"float32"``, ``"bfloat16"``, ``"float16"`` or
``"auto"``: on a GPU bfloat16 where it has it and float16 otherwise; on a CPU bfloat16 when
:func:`native_bfloat16` finds the instructions and a bfloat16 matmul measures faster than a
float32 one (:func:`bfloat16_speedup`), float32 otherwise. Build the models inside
``with precision.policy(name):``; a policy is global Keras state, so it is restored on exit.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator

import keras

CHOICES = ("auto", "float32", "bfloat16", "float16")
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")  # recorded next to timings


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (Linux); empty where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def speed_flags() -> list[str]:
    """The flags of ``SPEED_FLAGS`` this CPU has, in that order: what is recorded next to a timing."""
    flags = cpu_flags()
    return [flag for flag in SPEED_FLAGS if flag in flags]


def native_bfloat16(flags: set[str] | None = None) -> bool:
    """Whether the CPU has bfloat16 arithmetic in hardware (``avx512_bf16`` or ``amx_bf16``)."""
    return bool(set(_BFLOAT16_FLAGS) & (cpu_flags() if flags is None else flags))


def matmul_gflops(dtype: str = "float32", n: int = 2048, repeats: int = 5, jit: bool = False) -> float:
    """The best-of-``repeats`` rate of an ``n x n`` matmul in ``dtype`` on this machine, GFLOP/s
    (a ``tf.function``, compiled with XLA when ``jit``; tracing and compiling not timed)."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n), seed=0), dtype)
    b = tf.cast(tf.random.normal((n, n), seed=1), dtype)
    matmul = tf.function(lambda x, y: tf.matmul(x, y), jit_compile=jit)
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


@functools.cache
def bfloat16_speedup() -> float:
    """How much faster a 1024 x 1024 matmul runs in bfloat16 than in float32 here (measured once per
    process, a fraction of a second): above 1 where the CPU's bfloat16 instructions pay."""
    return matmul_gflops("bfloat16", 1024, 5) / matmul_gflops("float32", 1024, 5)


def gpu_compute_capability() -> tuple[int, int] | None:
    """The first GPU's compute capability, e.g. ``(7, 5)`` for a T4; None without a GPU."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tuple(tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0)))


def resolve(
    precision: str, flags: set[str] | None = None, gpu: tuple[int, int] | None | str = "detect",
    speedup: float | None = None,
) -> str:
    """``"float32"``, ``"bfloat16"`` or ``"float16"``: ``precision`` itself, or for ``"auto"`` what this
    machine does fastest (``gpu``: the GPU's compute capability, detected by default; None: no GPU).
    On a CPU with bfloat16 instructions, ``"auto"`` takes bfloat16 only when it is at least 10% faster
    (``speedup``: measured by :func:`bfloat16_speedup` by default)."""
    if precision not in CHOICES:
        raise ValueError(f"precision must be one of {', '.join(map(repr, CHOICES))}, got {precision!r}.")
    if precision != "auto":
        return precision
    capability = gpu_compute_capability() if gpu == "detect" else gpu
    if capability is not None:
        return "bfloat16" if capability >= (8, 0) else "float16"
    if not native_bfloat16(flags):
        return "float32"
    return "bfloat16" if (bfloat16_speedup() if speedup is None else speedup) >= 1.1 else "float32"


@contextlib.contextmanager
def policy(precision: str) -> Iterator[str]:
    """Build models inside this block with ``precision`` (resolved as :func:`resolve`); yields the
    resolved name. Keras's global dtype policy is set on entry and restored on exit."""
    chosen = resolve(precision)
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_POLICIES[chosen])
    try:
        yield chosen
    finally:
        keras.config.set_dtype_policy(before)
