"""Run by test_distributed.py in a fresh process: TensorFlow must split the CPU into two
logical devices before anything else touches it.

Prints one JSON line: SimCLR's loss and gradients on one global batch, computed on one device
and under MirroredStrategy over two replicas (from the same weights), and the losses of one
short fit of every method under the strategy.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from clr_lib import methods, models  # noqa: E402


def build(cls=methods.SimCLR, **kwargs):
    keras.utils.set_random_seed(0)
    encoder = models.small_cnn(widths=(8, 16), sync_batch_norm=True)
    return cls(encoder, projection_dims=(32, 16), sync_batch_norm=True, **kwargs)


def gradients(model, view_a, view_b, scale=1.0):
    with tf.GradientTape() as tape:
        loss, _ = model.contrastive_loss(view_a, view_b)
        scaled = loss * scale
    return loss, tape.gradient(scaled, model.trainable_variables)


rng = np.random.default_rng(0)
view_a = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
view_b = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")

single = build()
loss_one, grads_one = gradients(single, view_a, view_b)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = build()
    mirrored.set_weights(single.get_weights())
batches = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((view_a, view_b)).batch(16))


@tf.function
def replica_step(batch):
    def step(a, b):  # the base class's scaling: each replica's gradients are summed
        return gradients(mirrored, a, b, scale=1.0 / strategy.num_replicas_in_sync)

    losses, grads = strategy.run(step, args=batch)
    return (strategy.reduce("MEAN", losses, axis=None),
            [strategy.reduce("SUM", g, axis=None) for g in grads])


loss_two, grads_two = replica_step(next(iter(batches)))
report = {
    "replicas": strategy.num_replicas_in_sync,
    "loss_one": float(loss_one),
    "loss_two": float(loss_two),
    "max_grad_diff": max(float(np.max(np.abs(g1 - g2))) for g1, g2 in zip(grads_one, grads_two)),
    "max_grad": max(float(np.max(np.abs(g))) for g in grads_one),
    "fit": {},
}

pairs = tf.data.Dataset.from_tensor_slices((view_a, view_b)).repeat(2).batch(8, drop_remainder=True)
for name, cls, kwargs in [("simclr", methods.SimCLR, {}), ("dcl", methods.DCL, {"weighted": True}),
                          ("moco", methods.MoCo, {"queue_size": 32}), ("nnclr", methods.NNCLR, {"queue_size": 32})]:
    with strategy.scope():
        model = build(cls, **kwargs)
        model.compile(keras.optimizers.SGD(0.01))
    report["fit"][name] = model.fit(pairs, epochs=1, verbose=0).history["loss"][-1]
print(json.dumps(report))
