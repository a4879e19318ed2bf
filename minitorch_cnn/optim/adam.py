"""Adam and AdamW: steps scaled per coordinate by running gradient statistics (torch's rules).

For each parameter p with gradient g, step t = 1, 2, ... computes (b1, b2 = betas):

    g = g + wd * p                          # Adam only: L2 penalty folded into the gradient
    p = p * (1 - lr * wd)                   # AdamW only: *decoupled* weight decay
    m = b1 * m + (1 - b1) * g               # first moment: running mean of g     (m0 = 0)
    v = b2 * v + (1 - b2) * g * g           # second moment: running mean of g^2 (v0 = 0)
    m_hat = m / (1 - b1**t)                 # bias correction: m and v start at 0, so early
    v_hat = v / (1 - b2**t)                 #   averages are too small by exactly these factors
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

The ratio m_hat / sqrt(v_hat) is about +-1 wherever the gradient's sign is consistent, whatever
its scale, so every weight moves by roughly ``lr`` per step: the same learning rate suits layers
whose gradients differ by orders of magnitude.

Why AdamW?  In Adam the L2 term wd*p goes through the division by sqrt(v_hat), so weights with
large gradients are barely decayed.  AdamW shrinks every weight by the same factor instead
(Loshchilov & Hutter, "Decoupled Weight Decay Regularization").

As in torch, ``eps`` is added to sqrt(v_hat), not to v_hat, and the code computes
``p -= (lr / (1 - b1**t)) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``.  All updates are in place;
one scratch array per parameter per step; float32 stays float32.
"""
import math

import numpy as np

from .optimizer import Optimizer, check_number


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)``.

    State per parameter: ``"step"`` (int), ``"exp_avg"`` (m) and ``"exp_avg_sq"`` (v), arrays
    like p.
    """

    _decoupled = False                 # AdamW sets True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check(self, group):
        name = self._name
        check_number(name, "learning rate (lr)", group["lr"])
        check_number(name, "epsilon (eps)", group["eps"])
        check_number(name, "weight_decay", group["weight_decay"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_number(name, "beta parameter at index 0", betas[0], 0.0, 1.0, high_open=True)
        check_number(name, "beta parameter at index 1", betas[1], 0.0, 1.0, high_open=True)
        group["betas"] = tuple(betas)            # a list from JSON-like sources -> tuple

    def _update(self, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        b1, b2 = (float(b) for b in group["betas"])
        for p, grad in self._grads(group):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p.data)         # m
                state["exp_avg_sq"] = np.zeros_like(p.data)      # v
            state["step"] += 1
            t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]

            g = grad
            if wd != 0:
                if self._decoupled:
                    p.data *= 1.0 - lr * wd              # AdamW: p = p * (1 - lr * wd)
                else:
                    g = np.multiply(p.data, wd, out=np.empty_like(p.data))  # g = g + wd * p
                    g += grad

            m *= b1                                      # m = b1 * m + (1 - b1) * g
            m += (1.0 - b1) * g
            tmp = np.multiply(g, g, out=np.empty_like(v))   # v = b2 v + (1 - b2) g^2 (out=: a
            #                                                 0-d array stays an array)
            tmp *= 1.0 - b2
            v *= b2
            v += tmp

            step_size = lr / (1.0 - b1 ** t)                       # lr / bias_correction1
            denom = np.sqrt(v, out=tmp)                            # sqrt(v)
            denom /= math.sqrt(1.0 - b2 ** t)                      #   / sqrt(bias_correction2)
            denom += eps                                           #   + eps
            np.divide(m, denom, out=denom)                         # m / denom (reuses tmp)
            denom *= step_size
            p.data -= denom                                        # p = p - step_size * m/denom


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)``: Adam with
    decoupled weight decay ``p *= 1 - lr * weight_decay`` before the Adam step."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
