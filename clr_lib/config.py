"""Run profiles: how big every experiment in the course is.

Each notebook reads its settings from one profile, chosen by ``CLR_PROFILE``:

* ``smoke``: seconds per notebook on 2 CPU cores, for CI (tiny subsets, one or two epochs);
* ``book``: the outputs stored in the notebooks and rendered in the book, produced on a
  2-core CPU in up to about half an hour per notebook;
* ``gpu``: sized for one T4-class GPU (Colab's free one): each chapter in about half an hour,
  an estimate from FLOPs and throughput until it has run on such a GPU; the default on a GPU;
* ``full``: published-scale settings for a GPU, hours per chapter, only when asked for by name.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from dataclasses import dataclass

ENV_VAR = "CLR_PROFILE"


@dataclass(frozen=True)
class Profile:
    """The settings one profile fixes; every field is read by the notebooks and the CLI."""

    name: str
    hardware: str  # what the profile is meant for, printed next to its numbers
    encoder: str  # a name from clr_lib.models.ENCODERS
    epochs: int  # self-supervised pretraining epochs
    batch_size: int
    train_size: int | None  # training images used (class-balanced subset); None = all 50,000
    test_size: int | None  # test images used for evaluation; None = all 10,000
    supervised_epochs: int  # epochs of chapter 1's supervised baseline (all labels)
    short_train_size: int | None  # the short runs of an ablation (one per setting): training images ...
    short_epochs: int  # ... and epochs
    learning_rate: float = 2e-3  # peak learning rate, after linear warm-up, then cosine decay
    optimizer: str = "adamw"  # "adamw" or "sgd" (momentum 0.9, Nesterov): clr_lib.runs.make_optimizer
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    crop_scale: tuple[float, float] = (0.2, 1.0)  # RandomResizedCrop area range of the views
    view_size: int | None = None  # side of the training views in pixels; None = the images' own (32)
    jitter_strength: float = 0.5  # colour-jitter strength s (SimCLR uses 0.5 on CIFAR-10)
    method_settings: dict = dataclasses.field(default_factory=dict)  # e.g. {"simclr": {"temperature": 0.2}}
    precision: str = "float32"  # "float32", "bfloat16", "float16" or "auto" (the hardware's own): clr_lib.precision
    steps_per_execution: int = 1  # optimizer steps per call into the compiled graph (more keep a GPU busy)
    knn_k: int = 200
    knn_temperature: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2)  # every ablation setting and the random encoder run once per seed

    def replace(self, **changes) -> "Profile":
        """A copy with some settings changed, e.g. ``profile.replace(epochs=2)``."""
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", hardware="any CPU, seconds (CI)", encoder="small_cnn", epochs=1,
        batch_size=64, train_size=512, test_size=256, supervised_epochs=1,
        short_train_size=512, short_epochs=1, knn_k=20, seeds=(0, 1),
    ),
    "book": Profile(
        # The recipe of the CPU-budget search (notebooks/appendix_cpu_budget.ipynb): the slim CNN,
        # 24-pixel views, milder crops and jitter, SimCLR at temperature 0.2. One SimCLR epoch on
        # all 50,000 images took 28 s on the 2-core Xeon (AVX-512, AMX) that produced the book in a
        # plain graph (benchmarks/results/search_v2.json), about 4 times that on an AVX2-only CPU;
        # 10 epochs give a main run that has left its first, steep rise behind. Three supervised
        # epochs keep chapter 1 (three runs of equal steps) within its quarter of an hour.
        name="book", hardware="2-core CPU, minutes", encoder="small_cnn_slim", epochs=10,
        batch_size=256, train_size=None, test_size=None, supervised_epochs=3,
        short_train_size=10_000, short_epochs=4, warmup_epochs=0.25, crop_scale=(0.35, 1.0),
        view_size=24, jitter_strength=0.4, method_settings={"simclr": {"temperature": 0.2}},
    ),
    "gpu": Profile(
        # One T4 (65 TFLOP/s of float16 at best, ~15 in practice for small convolutions): ResNet-18's
        # 0.56 GFLOPs a 32-px image make a SimCLR step ~3.3 GFLOPs an image, so about 2,000 images/s
        # on the GPU, which Colab's two CPU cores can roughly augment. That is ~25 s an epoch: 30
        # epochs for a main run (~13 min), 5 for each short run. An estimate until run on a T4.
        name="gpu", hardware="one T4-class GPU, about half an hour a chapter (estimated)", encoder="resnet18_cifar",
        epochs=30, batch_size=512, train_size=None, test_size=None, supervised_epochs=15,
        short_train_size=None, short_epochs=5, precision="auto", steps_per_execution=16,
    ),
    "full": Profile(
        name="full", hardware="one GPU, hours", encoder="resnet18_cifar", epochs=200,
        batch_size=512, train_size=None, test_size=None, supervised_epochs=100,
        short_train_size=None, short_epochs=100, precision="auto", steps_per_execution=16,
    ),
}


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), printed next to every measured number."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def hardware() -> str:
    """A short description of this machine: CPU model and cores, or the GPUs TensorFlow sees."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s)"
    return f"{cpu_name()}, {os.cpu_count()} cores, no GPU"


def _gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def get_profile(name: str | None = None) -> Profile:
    """Return the profile called ``name``, else ``$CLR_PROFILE``, else ``gpu`` on a GPU and ``book`` otherwise.

    >>> get_profile("smoke").epochs
    1
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(
            f"get_profile takes a profile name (str: {', '.join(map(repr, PROFILES))}) or None, "
            f"got {type(name).__name__} {name!r}."
        )
    chosen = name if name is not None else os.environ.get(ENV_VAR, "").strip() or None
    if chosen is None:
        return PROFILES["gpu" if _gpu_available() else "book"]
    key = chosen.strip().lower()
    if key not in PROFILES:
        source = "get_profile()" if name is not None else f"the environment variable {ENV_VAR}"
        raise ValueError(
            f"Unknown profile {chosen!r} from {source}; valid profiles are "
            f"{', '.join(PROFILES)}. For example: export {ENV_VAR}=smoke"
        )
    return PROFILES[key]
