"""Filippov sliding modes: a ReLU flow that slides is continued on its kink, with balance conserved."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from curvsym.errors import OptionError
from curvsym.integrate.filippov import FilippovNet, gd_path, integrate_filippov, matrix_balance, per_neuron_balance


def _instance(seed=1):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((2, 5)), rng.standard_normal((1, 5))
    return X, Y, rng.standard_normal((3, 2)) / np.sqrt(2), 0.5 * rng.standard_normal(3), \
        rng.standard_normal((1, 3)) / np.sqrt(3)


def test_a_relu_path_slides_on_its_kink_and_keeps_per_neuron_balance():
    X, Y, W, b, A = _instance(1)
    net = FilippovNet(X, Y, 3, leak=0, bias=True)
    path = integrate_filippov(net, W, b, A, [0, 0.5, 1.0], dps=20)
    kinds = [e.kind for e in path.events]
    assert "enter" in kinds and path.slid and (0, 1) in path.sliding
    t_enter = path.sliding[(0, 1)][0][0]
    assert 0.2 < t_enter < 0.22 and path.sliding[(0, 1)][0][1] is None      # enters at t ≈ 0.2104, stays
    with mpmath.workdps(30):
        q = [per_neuron_balance(s) for s in path.states]
        drift = max(abs(a - c) for s in q for a, c in zip(s, q[0]))
        W1, b1, _ = path.states[-1]
        z = sum(W1[0][a] * mpmath.mpf(float(X[a, 1])) for a in range(2)) + b1[0]
        off = max(abs(a - c) for a, c in zip(matrix_balance(path.states[-1]), matrix_balance(path.states[0])))
    assert drift < 1e-17 and abs(z) < 1e-17                 # balance kept, the entry stays on its kink
    assert off > 1e-3                                         # the linear (off-diagonal) law does not hold
    gd = gd_path(net, W, b, A, 1e-3, [1.0])[0]
    ref = [np.array([[float(v) for v in r] for r in M]) if M and isinstance(M[0], list)
           else np.array([float(v) for v in M]) for M in path.states[-1]]
    assert max(float(np.max(np.abs(g - r))) for g, r in zip(gd, ref)) < 5e-3   # GD follows the sliding path


def test_bad_options_are_refused():
    X, Y, W, b, A = _instance(1)
    with pytest.raises(OptionError, match="leak"):
        FilippovNet(X, Y, 3, leak=1)
    with pytest.raises(OptionError, match="same n"):
        FilippovNet(X, Y[:, :3], 3)
    net = FilippovNet(X, Y, 3)
    with pytest.raises(OptionError, match="start at 0"):
        integrate_filippov(net, W, b, A, [0.5, 1.0])
    with pytest.raises(OptionError, match="multiple"):
        gd_path(net, W, b, A, 0.3, [1.0])
