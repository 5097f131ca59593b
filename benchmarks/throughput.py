"""Training throughput of every contrastive method: images/s, peak memory and achieved GFLOP/s.

    .venv/bin/python benchmarks/throughput.py                                  # every method x encoder
    .venv/bin/python benchmarks/throughput.py --methods simclr --encoders small_cnn --steps 5
    .venv/bin/python benchmarks/throughput.py --methods simclr --encoders small_cnn_slim --xla on,off \
        --precisions float32,bfloat16                                        # compile modes x precisions, one table
    .venv/bin/python benchmarks/throughput.py --steps small_cnn=30,resnet18_cifar=2 --json out.json

For each method (``--methods``: simclr, dcl, moco, nnclr), encoder (``--encoders``: small_cnn,
small_cnn_slim, resnet18_cifar), compile mode (``--xla``: on, off) and precision (``--precisions``:
float32, bfloat16, auto; see ``clr_lib.precision``) at ``--batch-size`` (256) and ``--view-size``
(24, the ``book`` profile's), one line with:

* **step img/s**: the training step alone. A few batches of views are made once with the real
  augmentation, kept in memory as float32, and served by ``tf.data.Dataset.from_tensor_slices(...)
  .repeat()``; ``model.fit(..., steps_per_epoch=warmup + steps)`` runs, and only the last
  ``steps`` steps are timed, so the warm-up steps absorb tracing and XLA compilation.
* **e2e img/s**: end to end, the same model on ``clr_lib.pipeline.pretraining_dataset`` over
  uint8 images (shuffle, batch, ``two_views(simclr_augment(...))`` with the ``book`` profile's
  crop scale and jitter strength), the augmentation competing with the step for the same cores.
  Images are CIFAR-10 (``clr_lib.data.load_cifar10()``) when ``CLR_DATA_DIR`` is set and
  loads, else ``make_synthetic(10000, 32)`` (the table's ``data`` column says which).
  "Images" are training images: each gives two views, so views/s is twice the number.
* **peak MB**: the peak resident memory (``ru_maxrss``) of the configuration's own
  subprocess: every configuration runs in a fresh Python process, one after the other.
* **GFLOP/step** and **GFLOP/s**: the FLOPs of one training step counted on its graph, divided by the
  measured step time, and that rate as a fraction of this machine's float32 matmul rate
  (``tf.matmul`` of 2048 x 2048 in a ``tf.function``, best of several runs, both cores).

Steps are timed with a Keras callback at the end of each batch (on a CPU a step has finished
when ``fit`` gets its logs back). The optimizer is the course's AdamW with warm-up and cosine
decay (``runs.make_optimizer``, ``book`` profile); the compiled step is Keras's own, with XLA
on or off as ``--xla`` says; every configuration of one invocation runs on the same machine in
the same session, so their rates can be compared (record the load average: it is printed).

FLOP accounting (multiply-add = 2 FLOPs): ``step_flops`` traces one training step of the model
itself (the method's ``contrastive_loss`` and its gradient, for views of the configured size) and
adds up every convolution and matrix product of that graph from its static shapes
(``op_flops``): forward and backward passes, the input and weight gradients, the key encoder's
forward pass (MoCo), the loss's similarity matrices, the nearest-neighbour search (NNCLR). No
method's count is written by hand, so a new method is counted as it computes. Batch norm, ReLU,
pooling, softmax, normalisation, the optimizer update and MoCo's momentum update are left out:
few FLOPs, much memory traffic.

The analytic forward count of each encoder is cross-checked against TensorFlow's own
profiler (``tf.compat.v1.profiler`` on the graph of a concrete forward function, batch 1);
``--layers`` also prints the per-layer forward FLOPs and arithmetic intensity.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from clr_lib import augment, config, data, methods, models, pipeline, precision, runs  # noqa: E402

METHODS = ("simclr", "dcl", "moco", "nnclr")
ENCODERS = ("small_cnn", "small_cnn_slim", "resnet18_cifar")
# resnet18_cifar is about 37x small_cnn's FLOPs: a step at batch 256 takes tens of seconds here.
DEFAULT_STEPS = {"small_cnn": 15, "small_cnn_slim": 15, "resnet18_cifar": 1}
DEFAULT_WARMUP = {"small_cnn": 2, "small_cnn_slim": 2, "resnet18_cifar": 1}
# The end-to-end phase reuses the compiled step; its warm-up only fills the input pipeline,
# which is negligible next to one resnet18_cifar step.
DEFAULT_E2E_WARMUP = {"small_cnn": 2, "small_cnn_slim": 2, "resnet18_cifar": 0}
FIXED_BATCHES = 4  # distinct pre-made batches of views the step-only phase cycles through
SYNTHETIC_IMAGES = 10_000
RESULT_MARKER = "THROUGHPUT_RESULT "
# Rough FLOPs per element for the layers left out of the headline count.
ELEMENTWISE_COST = {"BatchNormalization": 4, "Normalization": 2, "ReLU": 1, "Add": 1,
                    "MaxPooling2D": 1, "GlobalAveragePooling2D": 1}


@dataclass(frozen=True)
class Config:
    """One benchmark configuration, run in its own subprocess."""

    method: str
    encoder: str
    batch_size: int
    steps: int
    warmup: int
    e2e_warmup: int
    xla: bool
    precision: str = "float32"
    view_size: int = 24


# --- FLOP counting ------------------------------------------------------------------------

@dataclass
class LayerCount:
    """Forward cost of one layer, per image."""

    name: str
    kind: str
    output_shape: tuple
    flops: int  # weight-layer FLOPs (Conv2D, Dense); 0 for the others
    other: int  # rough elementwise FLOPs (BN, ReLU, pooling, ...); 0 for weight layers
    activations: int  # input + output elements per image
    weights: int  # kernel elements

    def intensity(self, batch: int) -> float:
        """Forward FLOPs per byte of float32 memory traffic (activations in and out, weights once) for a batch."""
        return batch * (self.flops or self.other) / (4 * (batch * self.activations + self.weights))


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model``, nested models flattened."""
    leaves = []
    for layer in model.layers:
        leaves.extend(_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return leaves


def _elements(shape) -> int:
    """Elements per image of an activation shape ``(None, ...)``."""
    return int(np.prod(shape[1:]))


def layer_counts(model: keras.Model) -> list[LayerCount]:
    """Per-image forward FLOPs of every layer of an encoder or head (see the module docstring)."""
    counts = []
    for layer in _leaf_layers(model):
        kind = type(layer).__name__
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Dense):
            n_in, n_out = layer.kernel.shape
            out_shape, flops, other = (None, n_out), 2 * n_in * n_out, 0
            activations, weights = n_in + n_out, n_in * n_out
        else:
            out_shape = tuple(layer.output.shape)
            in_shapes = layer.input if isinstance(layer.input, list) else [layer.input]
            n_in = sum(_elements(x.shape) for x in in_shapes)
            if isinstance(layer, keras.layers.Conv2D):
                kh, kw, c_in, c_out = layer.kernel.shape
                _, h, w, _ = out_shape
                flops, other = 2 * h * w * kh * kw * c_in * c_out, 0
                weights = kh * kw * c_in * c_out
            else:
                per_element = ELEMENTWISE_COST.get(kind, 0)
                base = n_in if "Pooling" in kind else _elements(out_shape)
                flops, other, weights = 0, per_element * base, 0
            activations = n_in + _elements(out_shape)
        counts.append(LayerCount(layer.name, kind, out_shape, int(flops), int(other), int(activations), int(weights)))
    return counts


def forward_flops(model: keras.Model) -> tuple[int, int]:
    """(weight-layer FLOPs, rough elementwise FLOPs) of one image's forward pass through ``model``."""
    counts = layer_counts(model)
    return sum(c.flops for c in counts), sum(c.other for c in counts)


WEIGHT_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul", "BatchMatMulV2")


def op_flops(op: tf.Operation) -> int:
    """FLOPs of one convolution or matrix product of a graph (multiply-add = 2), from static shapes.

    A matrix product ``(m, k) x (k, n)`` costs ``2 m k n``. A convolution costs ``2 kh kw c_in`` per
    element of its output; its two gradients cost as much as the forward pass, counted per element of
    the output gradient they take (``out_backprop``).
    """
    if op.type == "MatMul":
        a, b = (t.shape.as_list() for t in op.inputs)
        m, k = a[::-1] if op.get_attr("transpose_a") else a
        n = b[0] if op.get_attr("transpose_b") else b[1]
        return 2 * m * k * n
    if op.type == "BatchMatMulV2":
        a = op.inputs[0].shape.as_list()
        return 2 * int(np.prod(op.outputs[0].shape.as_list())) * (a[-2] if op.get_attr("adj_x") else a[-1])
    if op.type == "Conv2D":
        out, kernel = op.outputs[0].shape.as_list(), op.inputs[1].shape.as_list()
    elif op.type == "Conv2DBackpropInput":
        out, kernel = op.inputs[2].shape.as_list(), op.inputs[1].shape.as_list()
    elif op.type == "Conv2DBackpropFilter":
        out, kernel = op.inputs[2].shape.as_list(), op.outputs[0].shape.as_list()  # the kernel's gradient
    else:
        raise ValueError(f"op_flops counts {', '.join(WEIGHT_OPS)}, not {op.type}.")
    kh, kw, c_in, _ = kernel
    return 2 * int(np.prod(out)) * kh * kw * c_in


def step_flops(model: methods.ContrastiveModel, batch: int, view_size: int) -> dict:
    """FLOPs of one training step of ``model`` on ``batch`` images (two views of ``view_size`` pixels
    each), counted on the step's own graph: ``{"total", "by_op": {op type: FLOPs}}``."""
    spec = tf.TensorSpec([batch, view_size, view_size, 3], tf.float32)

    @tf.function
    def step(view_a, view_b):
        with tf.GradientTape() as tape:
            loss, _ = model.contrastive_loss(view_a, view_b)
        return tape.gradient(loss, model.trainable_variables)

    by_op = dict.fromkeys(WEIGHT_OPS, 0)
    for op in step.get_concrete_function(spec, spec).graph.get_operations():
        if op.type in WEIGHT_OPS:
            by_op[op.type] += op_flops(op)
    return {"total": float(sum(by_op.values())), "by_op": by_op}


def profiler_forward_flops(encoder: keras.Model) -> dict[str, int]:
    """TensorFlow's own FLOP count of one image's forward pass (``tf.compat.v1.profiler``),
    split into Conv2D/MatMul and everything else."""
    spec = tf.TensorSpec([1, *encoder.input_shape[1:]], tf.float32)
    graph = tf.function(lambda x: encoder(x, training=False)).get_concrete_function(spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    root = tf.compat.v1.profiler.profile(graph, cmd="scope", options=options)
    by_kind = {"conv_matmul": 0, "other": 0}
    stack = list(root.children)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.float_ops:
            op_type = graph.get_operation_by_name(node.name).type
            by_kind["conv_matmul" if op_type in ("Conv2D", "MatMul") else "other"] += int(node.float_ops)
    return by_kind


# --- the machine --------------------------------------------------------------------------

def matmul_gflops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Best-of-``repeats`` ``n x n`` matmul rate in GFLOP/s (``precision.matmul_gflops``): float32
    in a plain ``tf.function`` and with XLA, and bfloat16 in a ``tf.function`` (``bfloat16``)."""
    rates = {"tf_function": precision.matmul_gflops("float32", n, repeats),
             "xla": precision.matmul_gflops("float32", n, repeats, jit=True),
             "bfloat16": precision.matmul_gflops("bfloat16", n, repeats)}
    rates["best"] = max(rates["tf_function"], rates["xla"])  # the float32 reference
    return rates


def machine() -> dict:
    """CPU, cores, versions (``runs.environment``) and the current load average."""
    return {**runs.environment(), "load_average": os.getloadavg()}


# --- one configuration (runs inside the subprocess) ---------------------------------------

class StepClock(keras.callbacks.Callback):
    """Wall-clock time at the start of training and at the end of every batch."""

    def on_train_begin(self, logs=None):
        self.start, self.ends = time.perf_counter(), []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())
        self.loss = float(logs["loss"])

    def on_train_end(self, logs=None):
        self.finish = time.perf_counter()


def load_images() -> tuple[np.ndarray, str]:
    """uint8 training images and where they come from: CIFAR-10 if ``CLR_DATA_DIR`` loads, else synthetic."""
    if os.environ.get(data.DATA_DIR_VAR, "").strip():
        try:
            (x, _), _ = data.load_cifar10()
            return x, "cifar10"
        except (data.DataNotFoundError, ValueError, OSError) as error:
            print(f"CIFAR-10 from {data.DATA_DIR_VAR} did not load ({str(error).splitlines()[0]}); "
                  "using synthetic images.", file=sys.stderr)
    x, _ = data.make_synthetic(SYNTHETIC_IMAGES, 32)
    return x, "synthetic"


def method_kwargs(method: str, batch: int) -> dict:
    """Queue sizes that are a multiple of the batch (the defaults when they already are)."""
    defaults = {"moco": 4096, "nnclr": 8192}
    if method not in defaults or defaults[method] % batch == 0:
        return {}
    return {"queue_size": max(1, round(defaults[method] / batch)) * batch}


def fixed_views(pairs: tf.data.Dataset, n: int) -> tf.data.Dataset:
    """``n`` batches of views taken from ``pairs`` once, held in memory and repeated forever.

    tf.data autotuning is off here: there is nothing to tune, and deleting an autotuned iterator
    of an endless dataset (which ``fit`` does when it returns) blocked for up to 39 s on this
    machine, waiting for the autotuner's background thread (outside the timed steps, but it
    lengthens every run).
    """
    batches = list(pairs.take(n).as_numpy_iterator())
    view_a = np.stack([a for a, _ in batches]).astype(np.float32)
    view_b = np.stack([b for _, b in batches]).astype(np.float32)
    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_tensor_slices((view_a, view_b)).repeat().with_options(options)


def timed_fit(model: keras.Model, dataset: tf.data.Dataset, warmup: int, steps: int, batch: int) -> dict:
    """``fit`` for ``warmup + steps`` steps; the rate over the last ``steps`` only."""
    clock = StepClock()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, callbacks=[clock], verbose=0)
    returned = time.perf_counter()
    ends = [clock.start, *clock.ends]
    step_times = np.diff(ends)
    timed = ends[-1] - ends[warmup]
    return {"images_per_s": steps * batch / timed, "seconds_timed": timed,
            "step_seconds": [round(float(t), 4) for t in step_times],
            "median_step_s": float(np.median(step_times[warmup:])), "final_loss": clock.loss,
            "fit_overhead_s": round(returned - clock.finish, 2)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_config(cfg: Config) -> dict:
    """Build, compile and time one configuration; the record the parent prints."""
    keras.utils.set_random_seed(0)
    rss_start = peak_rss_mb()
    clock = [time.perf_counter()]
    images, source = load_images()
    profile = config.PROFILES["book"].replace(batch_size=cfg.batch_size)
    views = augment.simclr_augment(strength=profile.jitter_strength, crop_scale=profile.crop_scale,
                                   image_size=cfg.view_size, seed=0)
    with precision.policy(cfg.precision):
        encoder = models.get_encoder(cfg.encoder, input_shape=(None, None, 3))
        model = runs.build_method(cfg.method, encoder, **method_kwargs(cfg.method, cfg.batch_size))
    model.compile(optimizer=runs.make_optimizer(profile, 50_000 // cfg.batch_size), jit_compile=cfg.xla)
    fixed = fixed_views(pipeline.pretraining_dataset(images, cfg.batch_size, views, seed=0), FIXED_BATCHES)
    clock.append(time.perf_counter())
    step = timed_fit(model, fixed, cfg.warmup, cfg.steps, cfg.batch_size)
    clock.append(time.perf_counter())
    rss_step = peak_rss_mb()
    pairs = pipeline.pretraining_dataset(images, cfg.batch_size, views, seed=1).repeat()
    e2e = timed_fit(model, pairs, cfg.e2e_warmup, cfg.steps, cfg.batch_size)
    clock.append(time.perf_counter())
    flops = step_flops(model, cfg.batch_size, cfg.view_size)
    return {**asdict(cfg), "data": source, "step": step, "e2e": e2e, "flops": flops,
            "gflops_per_s_step": flops["total"] * step["images_per_s"] / cfg.batch_size / 1e9,
            "gflops_per_s_e2e": flops["total"] * e2e["images_per_s"] / cfg.batch_size / 1e9,
            "rss_mb": {"after_import": rss_start, "peak_after_step_phase": rss_step, "peak": peak_rss_mb()},
            "phase_seconds": dict(zip(("setup", "step_phase", "e2e_phase"), np.diff(clock).round(1).tolist())),
            "method_kwargs": method_kwargs(cfg.method, cfg.batch_size)}


def worker(encoded: str) -> None:
    """Subprocess entry point: run the configuration given as JSON, print the result as JSON."""
    result = run_config(Config(**json.loads(encoded)))
    print(RESULT_MARKER + json.dumps(result), flush=True)


# --- the parent: run every configuration, print the table ---------------------------------

def run_in_subprocess(cfg: Config, timeout: float) -> dict:
    """Run ``cfg`` in a fresh Python process (its own peak memory); an ``error`` record if it fails."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(asdict(cfg))]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**asdict(cfg), "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**asdict(cfg), "error": f"exit {done.returncode}: {tail}"}
    result = json.loads(lines[-1][len(RESULT_MARKER):])
    return {**result, "wall_seconds": wall, "load_average_1min": [load_before, os.getloadavg()[0]]}


HEADER = (f"{'method':<7} {'encoder':<15} {'xla':<4} {'precision':<9} {'data':<9} {'steps':>5} {'step img/s':>10} "
          f"{'e2e img/s':>10} {'peak MB':>8} {'GFLOP/step':>10} {'GFLOP/s':>8} {'of matmul':>9} "
          f"{'e2e GFLOP/s':>11} {'1st step s':>10} {'load':>9}")


def _rate(images_per_s: float) -> str:
    """Images per second with a decimal when they are few (resnet18_cifar)."""
    return f"{images_per_s:.1f}" if images_per_s < 100 else f"{images_per_s:.0f}"


def format_row(r: dict, matmul: float) -> str:
    """One plain table line for a result record (or its error)."""
    head = f"{r['method']:<7} {r['encoder']:<15} {'on' if r['xla'] else 'off':<4} {r['precision']:<9}"
    if "error" in r:
        return f"{head} ERROR {r['error']}"
    load = "{:.1f}-{:.1f}".format(*r["load_average_1min"])
    return (f"{head} {r['data']:<9} {r['steps']:>5} {_rate(r['step']['images_per_s']):>10} "
            f"{_rate(r['e2e']['images_per_s']):>10} {r['rss_mb']['peak']:>8.0f} {r['flops']['total'] / 1e9:>10.2f} "
            f"{r['gflops_per_s_step']:>8.1f} {r['gflops_per_s_step'] / matmul:>9.1%} "
            f"{r['gflops_per_s_e2e']:>11.1f} {r['step']['step_seconds'][0]:>10.1f} {load:>9}")


def print_layers(name: str, batch: int) -> None:
    """Per-layer forward FLOPs and arithmetic intensity at ``batch`` (FLOPs per byte moved)."""
    counts = layer_counts(models.get_encoder(name))
    total = sum(c.flops for c in counts)
    print(f"\n{name}: per-image forward, weight layers {total / 1e6:.1f} MFLOP")
    print(f"  {'layer':<22} {'kind':<22} {'output':<18} {'MFLOP':>8} {'share':>6} {'other MFLOP':>11} {'FLOP/byte':>9}")
    for c in counts:
        intensity = c.intensity(batch)
        share = f"{c.flops / total:.1%}" if c.flops else ""
        print(f"  {c.name:<22} {c.kind:<22} {str(c.output_shape[1:]):<18} {c.flops / 1e6:>8.2f} {share:>6} "
              f"{c.other / 1e6:>11.3f} {intensity:>9.1f}")


def per_encoder(text: str | None, defaults: dict[str, int], flag: str) -> dict[str, int]:
    """Parse ``N`` (every encoder) or ``enc=N,enc=N`` (the others keep their defaults)."""
    values = dict(defaults)
    if text is None:
        return values
    if "=" not in text:
        return {name: int(text) for name in values}
    for item in text.split(","):
        name, _, number = item.partition("=")
        if name.strip() not in values:
            raise SystemExit(f"{flag}: unknown encoder {name.strip()!r}; choose from {', '.join(values)}.")
        values[name.strip()] = int(number)
    return values


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    cli.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: all four)")
    cli.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated (default: both)")
    cli.add_argument("--batch-size", type=int, default=256)
    cli.add_argument("--steps", help="timed steps: N for every encoder, or e.g. small_cnn=20,resnet18_cifar=1 "
                                     f"(default {DEFAULT_STEPS})")
    cli.add_argument("--warmup", help=f"untimed steps before the step-only timing, same syntax "
                                      f"(default {DEFAULT_WARMUP})")
    cli.add_argument("--e2e-warmup", help=f"untimed steps before the end-to-end timing (default {DEFAULT_E2E_WARMUP})")
    cli.add_argument("--xla", default="on", help="compile modes, comma-separated: on, off (default on)")
    cli.add_argument("--precisions", default="float32",
                     help="comma-separated: float32, bfloat16, auto (clr_lib.precision; default float32)")
    cli.add_argument("--view-size", type=int, default=24, help="side of the training views (default 24, book's)")
    cli.add_argument("--layers", action="store_true", help="print each encoder's per-layer FLOPs")
    cli.add_argument("--timeout", type=float, default=900, help="seconds allowed per configuration (default 900)")
    cli.add_argument("--json", help="write the results to this JSON file")
    cli.add_argument("--worker", help=argparse.SUPPRESS)
    args = cli.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    args.xla = [x.strip() == "on" for x in args.xla.split(",") if x.strip() in ("on", "off")]
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if not args.xla:
        cli.error("--xla: give on, off or on,off")
    for name, chosen, known in (("--methods", args.methods, runs.METHODS), ("--encoders", args.encoders, ENCODERS),
                                ("--precisions", args.precisions, precision.CHOICES)):
        unknown = [c for c in chosen if c not in known]
        if unknown or not chosen:
            cli.error(f"{name}: unknown {unknown}; choose from {', '.join(known)}")
    if args.batch_size < 2 or args.view_size < 8:
        cli.error("--batch-size must be at least 2 and --view-size at least 8")
    return args


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    if args.worker:
        worker(args.worker)
        return
    steps = per_encoder(args.steps, DEFAULT_STEPS, "--steps")
    warmup = per_encoder(args.warmup, DEFAULT_WARMUP, "--warmup")
    e2e_warmup = per_encoder(args.e2e_warmup, DEFAULT_E2E_WARMUP, "--e2e-warmup")
    if min(steps.values()) < 1 or min(warmup.values()) < 1 or min(e2e_warmup.values()) < 0:
        raise SystemExit("--steps and --warmup must be at least 1, --e2e-warmup at least 0.")

    env = machine()
    print(f"CPU: {env['cpu']}, {env['cpu_count']} cores; TensorFlow {env['tensorflow']}, Keras {env['keras']}, "
          f"Python {env['python']}; GPUs: {env['gpus'] or 'none'}")
    load = " ".join(f"{x:.2f}" for x in env["load_average"])
    print(f"load average at start: {load} (other processes share the cores)")
    matmul = matmul_gflops()
    print(f"matmul 2048x2048, best of 5: float32 {matmul['tf_function']:.1f} GFLOP/s (tf.function), "
          f"{matmul['xla']:.1f} GFLOP/s (XLA), reference {matmul['best']:.1f}; bfloat16 {matmul['bfloat16']:.1f} "
          f"GFLOP/s (CPU bfloat16 instructions: {'yes' if precision.native_bfloat16() else 'no'})")
    checks = {}
    for name in args.encoders:
        analytic, other = forward_flops(models.get_encoder(name))
        profiled = profiler_forward_flops(models.get_encoder(name))
        checks[name] = {"analytic_conv_dense": analytic, "analytic_other": other, "profiler": profiled}
        print(f"{name} forward FLOPs per image: analytic conv/dense {analytic / 1e6:.2f} M, "
              f"tf.profiler Conv2D/MatMul {profiled['conv_matmul'] / 1e6:.2f} M "
              f"(other ops: analytic ~{other / 1e6:.2f} M, profiler {profiled['other'] / 1e6:.2f} M)")
        if args.layers:
            print_layers(name, args.batch_size)
    print(f"\nbatch {args.batch_size}, {args.view_size}-px views; img/s = training images "
          "(2 views each); GFLOP/s from the step-only rate; 'of matmul' = GFLOP/s / reference matmul rate")
    print(HEADER, flush=True)

    results = []
    for encoder in args.encoders:
        for method in args.methods:
            for xla in args.xla:
                for chosen in args.precisions:
                    cfg = Config(method, encoder, args.batch_size, steps[encoder], warmup[encoder],
                                 e2e_warmup[encoder], xla, precision.resolve(chosen), args.view_size)
                    results.append(run_in_subprocess(cfg, args.timeout))
                    print(format_row(results[-1], matmul["best"]), flush=True)

    if args.json:
        record = {"command": sys.argv, "machine": env, "matmul_gflops": matmul, "flop_check": checks,
                  "results": results}
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
