"""A peer side by side: the keras.io SimCLR example's recipe, rebuilt here, under the budget protocol.

    python benchmarks/peer_kerasio.py --minutes 10 --seed 0
    python benchmarks/peer_kerasio.py --minutes 20 --seed 0

The keras.io example "Semi-supervised image classification using contrastive pretraining with
SimCLR" (A. Béres, 2021) trains on STL-10; this script is our own implementation of its published
recipe on CIFAR-10 at batch 256, with nothing of ``clr_lib``'s recipe in it:

- encoder: four 3x3 convolutions of 128 filters, stride 2, ReLU, no padding and no batch norm,
  then flatten and a dense layer of 128 with ReLU (the features every evaluation reads);
- projection head: dense 128 with ReLU, dense 128 (no batch norm);
- augmentation: horizontal flip, random translation and zoom that keep at least a quarter of the
  image (``min_area = 0.25``), and a random colour affine map (brightness 0.6, jitter 0.2);
- loss: the temperature-0.1 cross-entropy between the two views' ``N x N`` similarity matrix
  and its transpose (each view contrasted with the other view's batch only), averaged;
- optimizer: Adam at its default learning rate, 1e-3, constant.

Everything else is ``budget.py``'s protocol, so the two recipes compare on equal terms: all
50,000 training images, a wall-clock budget (``clr_lib.callbacks.TimeBudget`` stops the run; the
learning rate stays constant as in the example: the budget's schedule is only used to stop), the
kNN monitor on a 10,000/2,000 subset off the clock, and at the end the weighted kNN (k = 200,
t = 0.1) and the linear probe on all test images. The result goes into
``benchmarks/results/budget.json`` under ``--tag`` (default ``peer-kerasio-<minutes>min-seed<seed>``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import budget  # noqa: E402  (the protocol's helpers: loading, monitor subsets, CPU seconds, results file)

from clr_lib import augment, evaluation, methods, pipeline, runs  # noqa: E402
from clr_lib.callbacks import KNNMonitor, TimeBudget  # noqa: E402

WIDTH, TEMPERATURE, MIN_AREA, BRIGHTNESS, JITTER = 128, 0.1, 0.25, 0.6, 0.2


@keras.saving.register_keras_serializable(package="peer")
class ColourAffine(augment.PerImageLayer):
    """Per image, pixels (0..255) times ``(1 + b) I + J``: ``b ~ U(-brightness, brightness)`` the same
    for all channels, ``J`` a 3x3 matrix of ``U(-jitter, jitter)`` entries; clipped to 0..255."""

    def __init__(self, brightness: float = BRIGHTNESS, jitter: float = JITTER, **kwargs):
        super().__init__(**kwargs)
        self.brightness, self.jitter = brightness, jitter

    def draw(self, batch_size, seed):
        scale_seed, matrix_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        scale = 1 + tf.random.stateless_uniform((batch_size, 1, 1, 1), scale_seed, -self.brightness, self.brightness)
        matrix = tf.random.stateless_uniform((batch_size, 1, 3, 3), matrix_seed, -self.jitter, self.jitter)
        return tf.eye(3, batch_shape=[batch_size, 1]) * scale + matrix

    def transform(self, images, parameters):
        return tf.clip_by_value(tf.matmul(tf.cast(images, tf.float32), parameters), 0.0, 255.0)

    def get_config(self):
        return {**super().get_config(), "brightness": self.brightness, "jitter": self.jitter}


@keras.saving.register_keras_serializable(package="peer")
class PeerAugment(keras.layers.Layer):
    """The example's strong augmentation: flip, translation, zoom (keeping ``min_area`` of the image at
    least), colour affine; images on 0..255 in and out, one stateless seed per call."""

    def __init__(self, min_area: float = MIN_AREA, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        zoom = 1.0 - math.sqrt(min_area)
        self.min_area, self.seed = min_area, seed
        self.stages = [keras.layers.RandomFlip("horizontal"), keras.layers.RandomTranslation(zoom / 2, zoom / 2),
                       keras.layers.RandomZoom((-zoom, 0.0), (-zoom, 0.0)), ColourAffine()]
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True, seed=None):
        images = tf.cast(images, tf.float32)
        if not training:
            return images
        seed = self.seed_generator.next() if seed is None else seed
        for stage, stage_seed in zip(self.stages, tf.unstack(tf.random.experimental.stateless_split(seed, 4))):
            images = augment._apply(stage, images, stage_seed)
        return images

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "min_area": self.min_area, "seed": self.seed}


def peer_encoder(width: int = WIDTH) -> keras.Model:
    """The example's encoder, on raw 32x32 images (0..255: the rescaling is its first layer)."""
    layers = [keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255)]
    layers += [keras.layers.Conv2D(width, 3, strides=2, activation="relu") for _ in range(4)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(width, activation="relu")]
    return keras.Sequential(layers, name="peer_encoder")


@keras.saving.register_keras_serializable(package="peer")
class PeerSimCLR(methods.PairLossModel):
    """The example's contrastive model: a head without batch norm and the two-direction ``N x N`` loss."""

    def __init__(self, encoder: keras.Model, temperature: float = TEMPERATURE, **kwargs):
        kwargs.setdefault("projection_dims", (WIDTH, WIDTH))
        kwargs.setdefault("head_batch_norm", False)
        super().__init__(encoder, **kwargs)
        self.temperature = temperature

    def pair_loss(self, z_a, z_b):
        z_a, z_b = tf.math.l2_normalize(z_a, axis=1), tf.math.l2_normalize(z_b, axis=1)
        similarities = tf.matmul(z_a, z_b, transpose_b=True) / self.temperature
        labels = tf.range(tf.shape(z_a)[0])
        one_way = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, similarities)
        other_way = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.transpose(similarities))
        return tf.reduce_mean(one_way + other_way) / 2

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


def arguments(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    cli.add_argument("--minutes", type=budget.positive_minutes, required=True)
    cli.add_argument("--batch-size", type=int, default=256)
    cli.add_argument("--seed", type=int, default=0)
    cli.add_argument("--tag", help="name of this run in the results file")
    cli.add_argument("--results", type=Path, default=budget.RESULTS)
    return cli.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = arguments(argv)
    (x, y), (x_test, y_test), load_seconds = budget.load(args.seed)
    train = pipeline.pretraining_dataset(x, args.batch_size, PeerAugment(seed=args.seed), seed=args.seed)
    encoder = peer_encoder()
    model = PeerSimCLR(encoder)
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=False)
    (bank_x, bank_y), (probe_x, probe_y) = budget.monitor_subsets(x, y, x_test, y_test)
    clock = TimeBudget(args.minutes * 60 - load_seconds, 1e-3, warmup=0.0)
    clock.learning_rate = lambda fraction: 1e-3  # the example's constant rate: the budget only stops the run
    monitor = KNNMonitor(bank_x, bank_y, probe_x, probe_y, k=200, temperature=0.1, encoder=encoder)
    cpu_before = budget.cpu_seconds()
    history = model.fit(train.repeat(), steps_per_epoch=len(x) // args.batch_size, epochs=10_000,
                        callbacks=[clock, monitor], verbose=2).history
    cpu_training = budget.cpu_seconds() - cpu_before
    accuracy = evaluation.frozen_accuracy(encoder, (x, y), (x_test, y_test), k=200, temperature=0.1)
    images = int(model.optimizer.iterations.numpy()) * args.batch_size
    result = {
        "method": "peer-kerasio", "encoder": "kerasio_cnn",
        "settings": {"recipe": "keras.io semisupervised_simclr", "width": WIDTH, "temperature": TEMPERATURE,
                     "min_area": MIN_AREA, "brightness": BRIGHTNESS, "jitter": JITTER, "optimizer": "adam",
                     "lr": 1e-3, "batch_size": args.batch_size, "minutes": args.minutes, "seed": args.seed},
        "precision": "float32", "xla": False, "images_seen": images, "epochs": images / len(x), **accuracy,
        "wall_seconds": clock.spent + load_seconds, "load_seconds": load_seconds,
        "peak_memory_mb": budget.peak_memory_mb(), "training_cores_used": cpu_training / clock.spent,
        "curve": {"train_seconds": history["train_seconds"], "knn_subset": history["val_knn_acc"],
                  "loss": history["loss"]},
        "evaluated_on": {"train": int(len(x)), "test": int(len(x_test))},
        "environment": runs.environment(),
    }
    tag = args.tag or f"peer-kerasio-{args.minutes:g}min-seed{args.seed}"
    budget.store(args.results, tag, result)
    print(f"{tag}: images_seen={images} epochs={result['epochs']:.2f} knn_top1={result['knn_top1']:.4f} "
          f"linear_top1={result['linear_probe_top1']:.4f} wall={result['wall_seconds'] / 60:.1f}min", flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
