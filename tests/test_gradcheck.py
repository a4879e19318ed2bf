"""gradcheck itself: it must pass right gradients and catch wrong ones."""
import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.autograd import Function


class WrongSquare(Function):
    """x**2 with a deliberately wrong backward (3x instead of 2x) on one element."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        gx = 2 * x * g
        gx.reshape(-1)[-1] *= 1.5
        return gx


def test_passes_a_correct_backward():
    x = mt.tensor(np.random.rand(3, 4), requires_grad=True)
    assert mt.gradcheck(lambda t: t * t, [x])
    assert mt.gradcheck(lambda t: t * t, x)            # a single tensor is fine too
    assert mt.gradcheck(lambda t: t * t, [x], fast=True)


def test_reports_input_element_and_both_values():
    x = mt.tensor(np.random.rand(2, 3) + 1, requires_grad=True)
    y = mt.tensor(np.random.rand(2, 3), requires_grad=True)
    with pytest.raises(mt.GradcheckError) as err:
        mt.gradcheck(lambda a, b: a * b + WrongSquare.apply(b), [x, y])
    msg = str(err.value)
    assert "input 1" in msg and "element (1, 2)" in msg
    assert "analytic" in msg and "numeric" in msg and "Worst" in msg


def test_fast_mode_catches_a_wrong_backward():
    x = mt.tensor(np.random.rand(50, 50) + 1, requires_grad=True)
    with pytest.raises(mt.GradcheckError, match="directional"):
        mt.gradcheck(lambda t: WrongSquare.apply(t), [x], fast=True)


def test_refuses_float32_with_a_reason():
    x = mt.randn(3, requires_grad=True)
    with pytest.raises(TypeError, match="float64.*rounding"):
        mt.gradcheck(lambda t: t * 2, [x])


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="requires grad"):
        mt.gradcheck(lambda t: t * 2, [mt.tensor(np.ones(2))])


def test_non_tensor_inputs_pass_through_and_inputs_are_restored():
    a = np.random.rand(3)
    x = mt.tensor(a.copy(), requires_grad=True)
    assert mt.gradcheck(lambda t, k: t * k, [x, 3.0])
    np.testing.assert_array_equal(x.data, a)
