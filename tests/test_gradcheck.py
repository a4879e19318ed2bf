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


# ------------------------------------------------------------------ a Module as fn
class SquaredWeights(mt.nn.Module):
    """conv(x) + sum(w**2) through WrongSquare: the weight's gradient is wrong at one element."""

    def __init__(self):
        super().__init__()
        self.conv = mt.nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return self.conv(x) + WrongSquare.apply(self.conv.weight).sum()


def test_module_checks_input_and_every_parameter_on_a_float64_copy():
    conv = mt.nn.Conv2d(2, 3, 3, padding=1, stride=2)
    before = conv.weight.data.copy()
    x = mt.randn(2, 2, 5, 5)                       # float32 input and layer: fine here
    assert mt.gradcheck(conv, x)
    assert mt.gradcheck(conv, x, fast=True)
    assert conv.weight.dtype == np.float32 and x.dtype == np.float32
    np.testing.assert_array_equal(conv.weight.data, before)
    assert conv.weight.grad is None                # the copy got the gradients


def test_module_failure_names_the_parameter_element():
    with pytest.raises(mt.GradcheckError) as err:
        mt.gradcheck(SquaredWeights(), mt.randn(1, 1, 5, 5))
    msg = str(err.value)
    # WrongSquare corrupts the last element: index (3, 0, 2, 2) of the (4, 1, 3, 3) weight
    assert msg.startswith("gradcheck: conv.weight[3, 0, 2, 2]: analytic"), msg
    with pytest.raises(mt.GradcheckError, match="conv.weight of shape"):
        mt.gradcheck(SquaredWeights(), mt.randn(1, 1, 5, 5), fast=True)
