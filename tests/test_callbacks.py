"""TimeBudget: the learning-rate curve over the budget, stopping on time, and not charging evaluation time.
KeyEncoderLag: the lag of a momentum encoder against the EMA formula and independent NumPy arithmetic.
WeightAverage: the averaged weights against the formula applied to the weights before each step."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from clr_lib.callbacks import KeyEncoderLag, KNNMonitor, TimeBudget, WeightAverage


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_learning_rate_is_warmup_then_cosine():
    budget = TimeBudget(100, peak_learning_rate=0.4, warmup=0.1)
    assert budget.learning_rate(0.0) == 0.0
    assert budget.learning_rate(0.05) == pytest.approx(0.2)  # half-way through warm-up
    assert budget.learning_rate(0.1) == pytest.approx(0.4)  # the peak
    assert budget.learning_rate(0.55) == pytest.approx(0.2)  # cosine half-way: (1 + cos(pi/2)) / 2
    assert budget.learning_rate(0.1 + 0.9 / 3) == pytest.approx(0.4 * (1 + math.cos(math.pi / 3)) / 2)
    assert budget.learning_rate(1.0) == pytest.approx(0.0, abs=1e-12)
    assert budget.learning_rate(2.0) == pytest.approx(0.0, abs=1e-12)


class Tick(keras.callbacks.Callback):
    """Advances the fake clock: one second per batch, and 50 s of 'evaluation' between epochs."""

    def __init__(self, clock):
        super().__init__()
        self.clock, self.rates = clock, []

    def on_train_batch_end(self, batch, logs=None):
        self.clock.now += 1.0
        self.rates.append(float(self.model.optimizer.learning_rate.numpy()))

    def on_epoch_begin(self, epoch, logs=None):
        self.clock.now += 50.0 * (epoch > 0)


def test_training_stops_on_budget_and_evaluation_time_is_free():
    clock = FakeClock()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1.0), loss="mse")
    data = tf.data.Dataset.from_tensors((np.ones((4, 2), "float32"), np.ones((4, 1), "float32"))).repeat()
    budget = TimeBudget(25, peak_learning_rate=0.1, warmup=0.2, clock=clock)
    tick = Tick(clock)
    history = model.fit(data, steps_per_epoch=10, epochs=100, verbose=0, callbacks=[tick, budget]).history
    assert int(model.optimizer.iterations.numpy()) == 25  # 25 one-second batches, whatever the pauses
    assert history["train_seconds"] == [10.0, 20.0, 25.0]
    assert tick.rates[0] == pytest.approx(0.0) and max(tick.rates) == pytest.approx(0.1, rel=0.05)
    assert tick.rates[-1] == pytest.approx(budget.learning_rate(24 / 25))


def test_bad_budget_and_monitor_arguments():
    with pytest.raises(ValueError, match="seconds > 0"):
        TimeBudget(0, 0.1)
    with pytest.raises(ValueError, match="positive number of epochs"):
        KNNMonitor(np.zeros((2, 4, 4, 3)), [0, 1], np.zeros((2, 4, 4, 3)), [0, 1], every=0)


# --- KeyEncoderLag ---------------------------------------------------------------------------


def tiny_moco(momentum):
    from clr_lib import methods, models

    encoder = models.small_cnn(widths=(8, 16), input_shape=(16, 16, 3))
    return methods.MoCo(encoder, projection_dims=(16, 8), queue_size=32, momentum=momentum)


def fixed_pairs(steps):
    from clr_lib.data import make_synthetic

    images = make_synthetic(16, 16, num_classes=4, seed=0)[0].astype("float32")
    return images, tf.data.Dataset.from_tensors((images, images[::-1])).repeat(steps)


def by_hand(model, images):
    """The relative weight distance and the mean query-key cosine, written out independently."""
    pairs = [(k.numpy(), q.numpy()) for k, q in zip(model.key_encoder.weights + model.key_projector.weights,
                                                     model.encoder.weights + model.projector.weights) if q.trainable]
    distance = np.sqrt(sum(((k - q) ** 2).sum() for k, q in pairs)) / np.sqrt(sum((q ** 2).sum() for _, q in pairs))
    q, k = model.project(images).numpy(), model.keys(images).numpy()
    cosine = np.mean(np.sum(q * k, axis=1) / (np.linalg.norm(q, axis=1) * np.linalg.norm(k, axis=1)))
    return distance, cosine


def test_key_encoder_lag_shrinks_by_the_momentum_each_step_when_the_query_stands_still():
    keras.utils.set_random_seed(0)
    model = tiny_moco(momentum=0.5)
    model.compile(keras.optimizers.SGD(0.0))  # the query weights never move
    rng = np.random.default_rng(0)
    for key, query in zip(model.key_encoder.weights + model.key_projector.weights,
                          model.encoder.weights + model.projector.weights):
        if query.trainable:
            key.assign(query.numpy() + rng.normal(0, 0.1, query.shape).astype("float32"))
    images, ds = fixed_pairs(3)
    start, _ = by_hand(model, images)
    lag = KeyEncoderLag(images, every=1)
    model.fit(ds, epochs=1, verbose=0, callbacks=[lag])
    assert lag.history["step"] == [0, 1, 2, 3]
    np.testing.assert_allclose(lag.history["parameter_distance"], start * 0.5 ** np.arange(4), rtol=1e-4)
    distance, cosine = by_hand(model, images)
    assert lag.history["parameter_distance"][-1] == pytest.approx(distance, rel=1e-5)
    assert lag.history["embedding_cosine"][-1] == pytest.approx(cosine, abs=1e-5)
    assert lag.history["embedding_cosine"][0] < lag.history["embedding_cosine"][-1] <= 1  # the keys catch up


def test_key_encoder_lag_is_zero_at_momentum_zero_and_every_step_is_counted():
    keras.utils.set_random_seed(0)
    model = tiny_moco(momentum=0.0)  # the key encoder is a copy of the query encoder after every step
    model.compile(keras.optimizers.SGD(0.1))
    images, ds = fixed_pairs(4)
    lag = KeyEncoderLag(images, every=2)
    model.fit(ds, epochs=1, verbose=0, callbacks=[lag])
    assert lag.history["step"] == [0, 2, 4]
    np.testing.assert_allclose(lag.history["parameter_distance"], 0.0, atol=1e-7)
    np.testing.assert_allclose(lag.history["embedding_cosine"], 1.0, atol=1e-5)
    model.key_projector.weights[0].assign(model.key_projector.weights[0] * -1.0)  # a key head that disagrees
    distance, cosine = lag.measure()
    assert distance > 0 and cosine < 0.999


def test_key_encoder_lag_needs_a_momentum_encoder():
    from clr_lib import methods, models

    with pytest.raises(ValueError, match="positive number of steps"):
        KeyEncoderLag(np.zeros((2, 16, 16, 3)), every=0)
    model = methods.SimCLR(models.small_cnn(widths=(8,), input_shape=(16, 16, 3)), projection_dims=(8, 4))
    model.compile(keras.optimizers.SGD(0.1))
    images, ds = fixed_pairs(1)
    with pytest.raises(ValueError, match="such as clr_lib.methods.MoCo"):
        model.fit(ds, epochs=1, verbose=0, callbacks=[KeyEncoderLag(images)])


class RecordWeights(keras.callbacks.Callback):
    """The online encoder's weights after every batch (runs before WeightAverage in the list)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder, self.after = encoder, []

    def on_train_batch_end(self, batch, logs=None):
        self.after.append([w.numpy().copy() for w in self.encoder.weights])


def test_weight_average_is_the_ema_of_the_weights_after_each_step():
    inputs = keras.Input((3,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(4)(inputs))  # moving statistics too
    encoder = keras.Model(inputs, hidden)
    model = keras.Sequential([encoder, keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    start = [w.numpy().copy() for w in encoder.weights]
    average, record = WeightAverage(encoder, decay=0.75), RecordWeights(encoder)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[record, average])
    expected = start
    for after in record.after:  # 4 steps: theta_avg <- d theta_avg + (1 - d) theta, in NumPy
        expected = [0.75 * e + 0.25 * a for e, a in zip(expected, after)]
    assert len(record.after) == 4
    for got, want in zip(average.encoder.weights, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(average.encoder.weights[0].numpy(), record.after[-1][0])  # an average, not a copy
    assert average.encoder.trainable_weights == []
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(encoder, decay=1.0)
