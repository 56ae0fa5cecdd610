"""Bernacchia et al.'s online natural gradient: exact limit, sampled factors, damping, training (about 5 s)."""

import numpy as np
import pytest

import curvsym as cs
from curvsym import nonlinear as nl
from curvsym import rules
from curvsym.papers import bernacchia2018 as bern


def _linear(widths, B=40, seed=0):
    net = cs.chain(widths)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((widths[0], widths[0])) @ rng.standard_normal((widths[0], B))
    T = rng.standard_normal((widths[-1], widths[0]))
    params = tuple(rng.standard_normal(e.shape) / np.sqrt(e.shape[1]) for e in net.weights)
    return net, bern.programs(net, B), params, X, T


def _step(prog, params, X, Y, **kw):
    opt = bern.OnlineNGD(levenberg=False, **kw)
    _, grads, dirs = opt.directions(prog, params, X, Y)
    return grads, [-d / prog.model.depth for d in dirs]


@pytest.mark.parametrize("widths", [[3, 3, 3], [3, 5, 2], [4, 2, 4]])
def test_exact_online_step_is_bernacchias_natural_gradient(widths):
    """Exact G, λ = 0: −(1/N) G⁺ ∇ A⁺ of the rules module, also through a bottleneck (pseudo-inverses)."""
    net, prog, params, X, T = _linear(widths)
    _, online = _step(prog, params, X, T @ X, damping=0.0, exact_G=True)
    rule = cs.generate_flow(rules.bernacchia(strict=False).flow(cs.model(net)))(params, X @ X.T / 40, T)
    for a, b in zip(online, rule):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.max(np.abs(b)))


def test_sampled_factor_converges_to_the_exact_one():
    net, prog, params, X, T = _linear([3, 4, 3], B=40)
    _, exact = _step(prog, params, X, T @ X, damping=0.0, exact_G=True)
    errors = []
    for R in (1, 16, 256):
        _, sampled = _step(prog, params, X, T @ X, damping=0.0, repeats=R, seed=1)
        errors.append(max(float(np.max(np.abs(a - b))) for a, b in zip(sampled, exact)))
    assert errors[0] > 1e-2 and errors[2] < errors[1] < errors[0] and errors[2] < 0.3 * errors[0]


def test_damped_direction_is_the_damped_kronecker_inverse():
    """With full-rank batch matrices the SVD route equals (G + √λ)⁻¹ ∇ (A + √λ)⁻¹ formed densely."""
    rng = np.random.default_rng(4)
    H, D, grad = rng.standard_normal((3, 20)), rng.standard_normal((4, 30)), rng.standard_normal((4, 3))
    lam = 0.09
    dense = np.linalg.solve(D @ D.T + 0.3 * np.eye(4), grad) @ np.linalg.inv(H @ H.T + 0.3 * np.eye(3))
    np.testing.assert_allclose(bern.ngd_direction(grad, H, D, lam), dense, rtol=1e-12, atol=1e-13)
    with pytest.raises(cs.ShapeError):
        bern.ngd_direction(grad.T, H, D, lam)
    with pytest.raises(cs.OptionError):
        bern.ngd_direction(grad, H, D, -1.0)


def test_online_gradient_is_the_generated_flow_gradient_with_biases():
    net = bern.autoencoder((6, 4, 2, 4, 6))
    prog = bern.programs(net, 10)
    params = nl.init_parameters(prog.model, 3, 1.0, 0.2)
    X = np.random.default_rng(5).standard_normal((6, 10))
    _, grads, _ = bern.OnlineNGD(levenberg=False).directions(prog, params, X, X)
    velocity = cs.generate_flow(nl.gradient_flow(prog.model))(params, X, X)
    for k, g in enumerate(grads):  # W̄_e = [W_e b_e]
        np.testing.assert_allclose(g[:, :-1], -velocity[2 * k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g[:, -1:], -velocity[2 * k + 1], rtol=1e-12, atol=1e-14)


def test_training_lowers_the_test_error_and_adapts_the_damping():
    from curvsym.data import datasets as ds
    d = ds.load_digits()
    X = ds.standardization(d.X).apply(d.X)
    net = bern.autoencoder((64, 16, 64))
    ngd = bern.OnlineNGD(damping=1.0, seed=0)
    curve = bern.train(ngd, net, X[:, :400], X[:, 1500:1600], epochs=3, batch=100, blas_threads=1)
    assert curve.test_mse[-1] < 0.7 * curve.test_mse[0] and ngd.damping != 1.0
    sgd = bern.train(bern.SGD(0.05), net, X[:, :400], X[:, 1500:1600], epochs=3, batch=20)
    assert sgd.test_mse[-1] < sgd.test_mse[0] and len(sgd.epochs) == 4 and sgd.seconds[-1] > 0
    with pytest.raises(cs.OptionError):
        bern.autoencoder((4, 2, 3))
    with pytest.raises(cs.OptionError):
        bern.OnlineNGD(alpha=0)
