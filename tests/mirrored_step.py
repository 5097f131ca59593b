"""Run by test_distributed.py in a fresh process: TensorFlow must split the CPU into two
logical devices before anything else touches it.

For every method of ``method_cases.NAMES``, one model on one device and one under MirroredStrategy over two
replicas start from the same weights and take two SGD steps through the real ``fit`` and
``train_step`` on the same two global batches. Every batch-norm layer is synchronised
(``sync_batch_norm=True`` for the encoder and the method), so that each replica normalises with
the statistics of the global batch, as one device does. Per step the report holds the two
losses, the largest difference between the weight updates (with SGD, the learning rate times the
gradients) and between the non-trainable state after the step (batch-norm statistics, queues,
key encoders), the sizes they are compared with, and how far the replicas' copies of a variable
differ. It also holds each replica's own loss (the mean over its anchors) next to the mean of
the same anchors' losses in NumPy on the global batch, the XLA decision of ``compile`` and the
batch-norm warning. SupCon, which trains on labelled batches, is reported apart (``"supcon"``):
the same two steps, and each replica's loss next to the NumPy loss of the whole global batch,
which every replica computes. Prints one JSON line.
"""

import json
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import method_cases  # noqa: E402
import reference_losses as ref  # noqa: E402
from clr_lib import methods, models  # noqa: E402

SIZE, BATCH, REPLICAS, LEARNING_RATE = 16, 16, 2, 0.05


def build(name, sync=True):
    keras.utils.set_random_seed(0)
    encoder = models.small_cnn(widths=(8, 16), input_shape=(SIZE, SIZE, 3), sync_batch_norm=sync)
    return method_cases.build(name, encoder, BATCH, projection_dims=(32, 16), sync_batch_norm=sync)


def values(variables):
    return [np.asarray(v, np.float64) for v in variables]


def largest(arrays):
    return max(float(np.max(np.abs(a))) for a in arrays)


def replica_spread(model):
    """The largest difference between two replicas' copies of any variable of ``model``."""
    spread = 0.0
    for variable in model.weights:
        copies = [np.asarray(c) for c in strategy.experimental_local_results(variable.value)]
        spread = max([spread] + [float(np.max(np.abs(c - copies[0]))) for c in copies])
    return spread


def anchor_losses(name, model, view_a, view_b):
    """Every anchor's loss on the global batch in NumPy, from ``model``'s state before the step,
    and, per anchor, the image it belongs to. Returns ``[(rows, images), ...]``, one per direction."""
    z_a = model.project(view_a, training=True).numpy()
    z_b = model.project(view_b, training=True).numpy()
    images = np.arange(BATCH)
    if name == "simclr":
        return [(ref.nt_xent_rows(z_a, z_b, model.temperature), np.concatenate([images, images]))]
    if name in ("dcl", "dclw"):
        weights = ref.dclw_weights(z_a, z_b, model.sigma) if model.weighted else None
        return [(ref.dcl_rows(z_a, z_b, model.temperature, weights), np.concatenate([images, images]))]
    if name == "moco":
        def keys(v):
            return model.key_projector(model.key_encoder(v, training=False), training=False).numpy()

        queue = model.queue.value().numpy()
        return [(ref.info_nce_rows(z_a, keys(view_b), queue, model.temperature), images),
                (ref.info_nce_rows(z_b, keys(view_a), queue, model.temperature), images)]
    if name == "nnclr":
        support = model.support_set.value().numpy()
        p_a, p_b = (model.predictor(z, training=True).numpy() for z in (z_a, z_b))
        return [(ref.nnclr_rows(ref.nearest(z_a, support), p_b, model.temperature), images),
                (ref.nnclr_rows(ref.nearest(z_b, support), p_a, model.temperature), images)]
    raise NotImplementedError(f"mirrored_step.py has no NumPy loss for method {name!r}: add its anchors' losses "
                              f"to anchor_losses (formulas in reference_losses.py)")


def replica_losses(name, batch, loss):
    """A model built like ``name``'s reference, under the strategy and with its weights, and each
    replica's ``loss(model, *views)`` on ``batch`` split over the replicas. Returns
    ``(reference, [loss of replica 0, loss of replica 1])``."""
    reference = build(name)
    with strategy.scope():
        probe = build(name)
    probe.set_weights(reference.get_weights())

    @tf.function
    def losses(*views):
        return strategy.run(lambda *v: loss(probe, *v), args=views)

    distributed = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))
    return reference, [float(v) for v in strategy.experimental_local_results(losses(*next(iter(distributed))))]


def per_replica_check(name, batch):
    """Each replica's ``contrastive_loss`` against the NumPy mean over its own anchors."""
    reference, got = replica_losses(name, batch, lambda model, a, b: model.contrastive_loss(a, b)[0])
    directions = anchor_losses(name, reference, *batch)
    per_replica = BATCH // REPLICAS
    expected = [float(np.mean([rows[images // per_replica == r].mean() for rows, images in directions]))
                for r in range(REPLICAS)]
    return {"got": got, "expected": expected}


def supcon_replica_check(batch):
    """Each replica's SupCon loss against the NumPy ``L_out`` of the whole global batch: every replica
    gathers all projections and labels, so all replicas hold the same, global, loss."""
    reference, got = replica_losses("supcon", batch, lambda model, *views: model.views_loss(views)[0])
    view_a, view_b, labels = batch
    z = np.concatenate([reference.project(v, training=True).numpy() for v in (view_a, view_b)])
    expected = float(np.nanmean(ref.supcon_rows(z, np.concatenate([labels, labels]), reference.temperature)))
    return {"got": got, "expected": expected}


def compare_steps(name, batches):
    single = build(name)
    with strategy.scope():
        mirrored = build(name)
        mirrored.set_weights(single.get_weights())
    single.compile(keras.optimizers.SGD(LEARNING_RATE), jit_compile=False)  # XLA would only add compile time
    mirrored.compile(keras.optimizers.SGD(LEARNING_RATE))
    steps = []
    for batch in batches:
        dataset = tf.data.Dataset.from_tensors(batch)
        before = values(single.trainable_weights)
        loss_one = single.fit(dataset, epochs=1, verbose=0).history["loss"][0]
        loss_two = mirrored.fit(dataset, epochs=1, verbose=0).history["loss"][0]
        update_one = [a - b for a, b in zip(values(single.trainable_weights), before)]
        update_two = [a - b for a, b in zip(values(mirrored.trainable_weights), before)]
        state_one, state_two = values(single.non_trainable_weights), values(mirrored.non_trainable_weights)
        steps.append({
            "loss_one": loss_one, "loss_two": loss_two,
            "update": largest(update_one),
            "update_diff": largest([a - b for a, b in zip(update_one, update_two)]),
            "state": largest(state_one),
            "state_diff": largest([a - b for a, b in zip(state_one, state_two)]),
            "replica_spread": replica_spread(mirrored),
        })
        # the single-device model is now one step ahead; realign the mirrored one to it exactly
        mirrored.set_weights(single.get_weights())
    return {"steps": steps, "jit_compile": mirrored.jit_compile}


def compile_decisions():
    """XLA and the batch-norm warning of ``compile``, for models built in and out of the strategy's scope."""
    report = {}
    with strategy.scope():
        synced, unsynced = build("simclr"), build("simclr", sync=False)
    for name, model in (("synced", synced), ("unsynced", unsynced)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.compile("sgd")  # outside the scope the model was built in
        report[name] = {"jit_compile": model.jit_compile,
                        "warned": any(issubclass(w.category, methods.UnsynchronizedBatchNormWarning) for w in caught)}
    single = build("simclr", sync=False)
    single.compile("sgd")
    report["single"] = {"jit_compile": single.jit_compile}
    return report


strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(REPLICAS)])
rng = np.random.default_rng(0)
batches = [tuple(rng.uniform(0, 255, (BATCH, SIZE, SIZE, 3)).astype("float32") for _ in range(2)) for _ in range(2)]
report = {"replicas": strategy.num_replicas_in_sync, "compile": compile_decisions(), "methods": {}, "per_replica": {}}
for name in method_cases.NAMES:
    report["methods"][name] = compare_steps(name, batches)
    report["per_replica"][name] = per_replica_check(name, batches[0])
labelled = [batch + (rng.integers(0, 4, BATCH),) for batch in batches]  # 4 classes: positives on both replicas
report["supcon"] = {**compare_steps("supcon", labelled), "per_replica": supcon_replica_check(labelled[0])}
print(json.dumps(report))
