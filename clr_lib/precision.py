"""Numeric precision of training: bfloat16 where the hardware computes it natively, float16 on
older GPUs, float32 elsewhere.

Keras's ``mixed_bfloat16`` policy keeps every weight in float32 and runs the layers' matmuls
and convolutions in bfloat16 (8 bits of mantissa, float32's range, so no loss scaling is
needed). A CPU with AVX-512 BF16 or AMX instructions does that about twice as fast as float32;
on any other CPU bfloat16 is emulated and slower. The losses, the softmax, the queues and the
kNN evaluation cast to float32 themselves (``clr_lib.losses``, ``FifoQueue``,
``evaluation.extract_features``), so only the network's arithmetic changes.

On a GPU, ``mixed_float16`` (half precision with Keras's dynamic loss scaling: ``compile``
wraps the optimizer in a ``LossScaleOptimizer`` under that policy, and every method's
``train_step`` scales its loss through ``optimizer.scale_loss``) suits GPUs without bfloat16,
such as Colab's T4; GPUs of compute capability 8 or more (A100, L4) do bfloat16.

``Profile.precision`` names the choice: ``"float32"``, ``"bfloat16"``, ``"float16"`` or
``"auto"``: on a GPU bfloat16 where it has it and float16 otherwise; on a CPU bfloat16 when
:func:`native_bfloat16` finds the instructions, float32 otherwise. Build the models inside
``with precision.policy(name):``; a policy is global Keras state, so it is restored on exit.
"""

from __future__ import annotations

import contextlib
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


def native_bfloat16(flags: set[str] | None = None) -> bool:
    """Whether the CPU has bfloat16 arithmetic in hardware (``avx512_bf16`` or ``amx_bf16``)."""
    return bool(set(_BFLOAT16_FLAGS) & (cpu_flags() if flags is None else flags))


def gpu_compute_capability() -> tuple[int, int] | None:
    """The first GPU's compute capability, e.g. ``(7, 5)`` for a T4; None without a GPU."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tuple(tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0)))


def resolve(precision: str, flags: set[str] | None = None, gpu: tuple[int, int] | None | str = "detect") -> str:
    """``"float32"``, ``"bfloat16"`` or ``"float16"``: ``precision`` itself, or for ``"auto"`` what this
    machine does natively (``gpu``: the GPU's compute capability, detected by default; None: no GPU)."""
    if precision not in CHOICES:
        raise ValueError(f"precision must be one of {', '.join(map(repr, CHOICES))}, got {precision!r}.")
    if precision != "auto":
        return precision
    capability = gpu_compute_capability() if gpu == "detect" else gpu
    if capability is not None:
        return "bfloat16" if capability >= (8, 0) else "float16"
    return "bfloat16" if native_bfloat16(flags) else "float32"


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
