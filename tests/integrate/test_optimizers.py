"""SGD with momentum and Adam as steppers of the discrete-step runner (≈ 0.5 s in all).

Adam is checked step for step against a scalar transcription of Kingma & Ba (ICLR 2015),
Algorithm 1, and against torch.optim.Adam when torch is installed; SGDM against PyTorch's
momentum recursion.  GD through ``optimize`` (SGDM with μ = 0) equals ``ensemble.iterate``.
"""

import math

import numpy as np
import pytest

import curvsym as cs
from curvsym import ensemble
from curvsym.errors import DivergenceError, OptionError, ShapeError
from curvsym.integrate import optimizers as op

A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, -0.2], [0.0, -0.2, 0.3]])


def quadratic_field(y, k):
    """−∇L_k for L_k(θ) = ½θᵀAθ − b_kᵀθ + 0.1‖θ‖₁, a different b_k per minibatch k."""
    b = np.array([1.0, -2.0, 0.5]) + 0.3 * math.cos(k)
    (W,) = y
    return (-(A @ W - b[:, None] + 0.1 * np.sign(W)),)


def gradient_flat(theta, k):
    return -quadratic_field((theta.reshape(1, 3, 1),), k)[0].ravel()


def adam_algorithm_1(theta, n_steps, alpha, beta1, beta2, eps):
    """Kingma & Ba 2015, Algorithm 1, coordinate by coordinate in Python floats."""
    theta = list(theta)
    m = [0.0] * len(theta)
    v = [0.0] * len(theta)
    out = [list(theta)]
    for t in range(1, n_steps + 1):
        g = gradient_flat(np.array(theta), t - 1)
        for i in range(len(theta)):
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2
            m_hat = m[i] / (1 - beta1 ** t)
            v_hat = v[i] / (1 - beta2 ** t)
            theta[i] = theta[i] - alpha * m_hat / (math.sqrt(v_hat) + eps)
        out.append(list(theta))
    return np.array(out)


def test_adam_equals_algorithm_1_step_for_step():
    theta0 = np.array([0.4, -0.3, 1.2])
    traj = op.optimize(op.Adam(0.05, (0.8, 0.99), 1e-8), quadratic_field, (theta0.reshape(1, 3, 1),), 60)
    ours = np.array([s[0].ravel() for s in traj.states])
    ref = adam_algorithm_1(theta0, 60, 0.05, 0.8, 0.99, 1e-8)
    assert np.max(np.abs(ours - ref)) <= 1e-13
    # first step of Adam: −α g/(|g| + ε) (m̂ = g, v̂ = g²)
    g = gradient_flat(theta0, 0)
    assert np.allclose(ours[1] - theta0, -0.05 * g / (np.abs(g) + 1e-8), rtol=1e-13, atol=0)
    assert traj.n_rhs == 60 and traj.t[-1] == 60


def test_adam_against_torch_when_installed():
    torch = pytest.importorskip("torch")
    theta0 = np.array([0.4, -0.3, 1.2])
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = torch.optim.Adam([p], lr=0.05, betas=(0.8, 0.99), eps=1e-8)
    ref = [theta0.copy()]
    for k in range(30):
        opt.zero_grad()
        p.grad = torch.tensor(gradient_flat(p.detach().numpy(), k))
        opt.step()
        ref.append(p.detach().numpy().copy())
    traj = op.optimize(op.Adam(0.05, (0.8, 0.99), 1e-8), quadratic_field, (theta0.reshape(1, 3, 1),), 30)
    assert np.max(np.abs(np.array([s[0].ravel() for s in traj.states]) - np.array(ref))) <= 1e-12


def test_sgdm_recursion_and_gd_through_the_same_runner():
    theta0 = np.array([0.4, -0.3, 1.2])
    traj = op.optimize(op.SGDM(0.1, 0.9), quadratic_field, (theta0.reshape(1, 3, 1),), 40)
    theta, b = theta0.copy(), None
    for k in range(40):
        g = gradient_flat(theta, k)
        b = g if b is None else 0.9 * b + g
        theta = theta - 0.1 * b
        assert np.max(np.abs(traj.states[k + 1][0].ravel() - theta)) <= 1e-14
    # μ = 0 is GD: identical to ensemble.iterate on a generated flow
    m = cs.model(cs.deep_chain(2, 2))
    rhs = cs.generate_flow(cs.gradient_flow(m))
    rng = np.random.default_rng(3)
    W = tuple(0.5 * rng.standard_normal((3, 2, 2)) for _ in range(2))
    data = (np.eye(2), rng.standard_normal((2, 2)))
    gd = ensemble.iterate(rhs, W, data, 0.05, 25)
    ours = op.optimize(op.SGDM(0.05, 0.0), op.flow_field(rhs, W, data), W, 25, record_every=5)
    for a, b_ in zip(gd.final, ours.final):
        assert np.max(np.abs(a - b_)) <= 1e-14


def test_divergence_is_frozen_or_raised():
    def field(y, k):
        return tuple(-w * np.array([0.01, 1e3]).reshape(2, 1, 1) for w in y)   # L = ½cw²: member 1 explodes
    W = (np.ones((2, 1, 1)),)
    with np.errstate(over="ignore", invalid="ignore"):
        traj = op.optimize(op.SGDM(10.0, 0.9), field, W, 300)
        assert [s.value for s in traj.status] == ["success", "diverged"]
        assert abs(traj.final[0][0, 0, 0]) < 1.0
        with pytest.raises(DivergenceError):
            op.optimize(op.SGDM(10.0, 0.9), field, W, 300, throw=True)


@pytest.mark.parametrize("make", [lambda: op.Adam(-1e-3), lambda: op.Adam(1e-3, (0.9, 1.0)),
                                  lambda: op.Adam(1e-3, (-0.1, 0.9)), lambda: op.Adam(1e-3, eps=0),
                                  lambda: op.Adam(1e-3, (0.9,)), lambda: op.SGDM(float("nan")),
                                  lambda: op.SGDM(0.1, 1.0), lambda: op.SGDM("fast")])
def test_bad_options_raise(make):
    with pytest.raises(OptionError):
        make()


def test_bad_calls_raise():
    with pytest.raises(OptionError):
        op.optimize(op.Adam(), quadratic_field, (np.zeros((1, 3, 1)),), 0)
    with pytest.raises(OptionError):
        op.optimize(ensemble.StepMap(0.1), quadratic_field, (np.zeros((1, 3, 1)),), 3)
    with pytest.raises(ShapeError):
        op.optimize(op.Adam(), quadratic_field, (np.zeros((3, 1)),), 3)
