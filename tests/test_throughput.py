"""``benchmarks/throughput.py``'s FLOP count of a training step, against counts made by hand."""

import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from clr_lib import methods, models

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import throughput  # noqa: E402


def graph_ops(fn, *specs):
    return [op for op in tf.function(fn).get_concrete_function(*specs).graph.get_operations()
            if op.type in throughput.WEIGHT_OPS]


def test_op_flops_of_a_matmul_and_a_convolution_and_its_gradients():
    spec = tf.TensorSpec
    (matmul,) = graph_ops(lambda a, b: tf.matmul(a, b, transpose_b=True), spec([3, 4]), spec([5, 4]))
    assert throughput.op_flops(matmul) == 2 * 3 * 4 * 5
    kernel = tf.Variable(tf.ones([3, 3, 2, 7]))

    def conv_and_gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
        return tape.gradient(y, [x, kernel])

    ops = graph_ops(conv_and_gradients, spec([2, 8, 8, 2]))
    assert sorted(op.type for op in ops) == ["Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput"]
    for op in ops:  # each costs 2 * kh * kw * c_in per output element: 2 images of 8 x 8 x 7
        assert throughput.op_flops(op) == 2 * 3 * 3 * 2 * (2 * 8 * 8 * 7), op.type


@pytest.mark.parametrize("size", [8, 16])
def test_simclr_step_count_grows_with_the_similarity_matrix(size):
    """The network's FLOPs grow with the batch, the 2B x 2B similarity matrix with its square: twice the
    batch adds exactly the matrix's growth, 3 products (forward, and the gradient of each operand) of
    2 (2B)^2 D, to twice the smaller step."""
    encoder = models.small_cnn(widths=(8, 16), input_shape=(None, None, 3))
    model = methods.SimCLR(encoder, projection_dims=(32, 16))
    small, large = (throughput.step_flops(model, b, size)["total"] for b in (4, 8))
    d = 16

    def similarity(b):
        return 3 * 2 * (2 * b) ** 2 * d

    np.testing.assert_allclose(large - 2 * small, similarity(8) - 2 * similarity(4))
