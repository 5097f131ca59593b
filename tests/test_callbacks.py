"""TimeBudget: the learning-rate curve over the budget, stopping on time, and not charging evaluation time."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from clr_lib.callbacks import KNNMonitor, TimeBudget


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
