"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay (torch's rule).

For each parameter p with gradient g, one ``step`` computes (lr = learning rate, mu = momentum,
tau = dampening, wd = weight decay):

    g = g + wd * p                       # L2 penalty (wd/2)|p|^2 folded into the gradient
    b = g                 (first step)   # momentum buffer: a running sum of past gradients
    b = mu * b + (1 - tau) * g   (later)
    g = g + mu * b   if nesterov         # "look ahead": the gradient plus the next momentum move
    g = b            otherwise
    p = p - lr * g

Without momentum (mu = 0) this is plain gradient descent ``p -= lr * g``.  Momentum averages
gradients over about 1/(1 - mu) steps, which smooths the noise of mini-batches and speeds up
progress along directions where successive gradients agree.

Every array operation is in place (``*=``, ``+=``, ``out=``) on ``p.data`` and the buffer, so a
step allocates at most one temporary per parameter, and float32 stays float32.  Temporaries are
made with ``out=``: for a 0-d parameter, numpy's ``a * b`` returns a numpy *scalar*, which has no
in-place ops, and a momentum buffer held as one would silently never update.
"""
import numpy as np

from .optimizer import Optimizer, _required, check_number


class SGD(Optimizer):
    """``SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False)``.

    State per parameter (only when momentum != 0): ``"momentum_buffer"``, an array like p.
    """

    def __init__(self, params, lr=_required, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False):
        if lr is _required:
            raise TypeError("SGD: missing required argument lr (the learning rate)")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check(self, group):
        check_number("SGD", "learning rate (lr)", group["lr"])
        check_number("SGD", "momentum", group["momentum"])
        check_number("SGD", "dampening", group["dampening"])
        check_number("SGD", "weight_decay", group["weight_decay"])
        if not isinstance(group["nesterov"], (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero "
                             f"dampening, got momentum={group['momentum']}, "
                             f"dampening={group['dampening']}")

    def _update(self, group):
        lr, mu = float(group["lr"]), float(group["momentum"])
        tau, wd = float(group["dampening"]), float(group["weight_decay"])
        nesterov = bool(group["nesterov"])
        for p, grad in self._grads(group):
            g = grad
            if wd != 0:
                g = np.multiply(p.data, wd, out=np.empty_like(p.data))  # g = g + wd * p (a new
                g += grad                            # array, never p.grad; out= keeps 0-d arrays)
            if mu != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = np.array(g, copy=True)  # b = g at first
                else:
                    buf *= mu                                       # b = mu * b
                    if tau != 0:
                        buf += (1.0 - tau) * g                      #   + (1 - tau) * g
                    else:
                        buf += g
                if nesterov:
                    step = np.multiply(buf, mu, out=np.empty_like(buf))     # g + mu * b
                    step += g
                else:
                    step = buf                                      # b
            else:
                step = g
            p.data -= np.multiply(step, lr, out=np.empty_like(step))  # p = p - lr * step
