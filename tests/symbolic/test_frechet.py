"""The Fréchet derivative of PSD powers (Daleckii–Krein node) against finite differences and closed forms.

About 3 s.
"""

import mpmath
import numpy as np
import pytest
import sympy as sp
from sympy import MatrixSymbol

import curvsym as cs
from curvsym.kernels.spectral import _psd_inv_power, _psd_power_derivative, power_divided_difference
from curvsym.symbolic.matfuncs import PsdInvPower, PsdPowerDerivative


def _spd(n, rng, spread=1.0):
    A = rng.standard_normal((n, n))
    return A @ A.T / n + spread * np.eye(n)


def _sym(n, rng):
    E = rng.standard_normal((n, n))
    return (E + E.T) / 2


@pytest.mark.parametrize("q,lam", [(0.5, 0.0), (0.25, 0.1), (-0.5, 0.0), (1.0, 0.0), (0.5, 1e-3)])
def test_first_and_second_derivatives_against_central_differences(q, lam, rng):
    X, E1, E2 = _spd(3, rng), _sym(3, rng), _sym(3, rng)
    F = lambda Y: _psd_inv_power(Y, q, lam, False, np)
    h = 1e-5
    fd1 = (F(X + h * E1) - F(X - h * E1)) / (2 * h)
    np.testing.assert_allclose(_psd_power_derivative(X, q, lam, False, np, "X", E1), fd1, rtol=1e-7, atol=1e-9)
    h = 1e-4
    fd2 = (F(X + h * E1 + h * E2) - F(X + h * E1 - h * E2) - F(X - h * E1 + h * E2) + F(X - h * E1 - h * E2)) / (4 * h * h)
    np.testing.assert_allclose(_psd_power_derivative(X, q, lam, False, np, "X", E1, E2), fd2, rtol=1e-5, atol=1e-7)


def test_clustered_eigenvalues_lose_no_digits(rng):
    Q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    X = Q @ np.diag([1.0, 1.0 + 1e-11, 2.0]) @ Q.T
    E = _sym(3, rng)
    with mpmath.workdps(60):
        Xm = np.array([[mpmath.mpf(v) for v in r] for r in X], dtype=object)
        Em = np.array([[mpmath.mpf(v) for v in r] for r in E], dtype=object)
        exact = _psd_power_derivative(Xm, mpmath.mpf(1) / 2, 0, False, None, "X", Em)
        exact = np.array(exact.tolist(), dtype=float)
    got = _psd_power_derivative(X, 0.5, 0.0, False, np, "X", E)
    np.testing.assert_allclose(got, exact, rtol=1e-12, atol=1e-13)


def test_q_one_agrees_with_the_closed_form_inverse_derivative(rng):
    X, E = _spd(3, rng), _sym(3, rng)
    P = np.linalg.inv(X)
    np.testing.assert_allclose(_psd_power_derivative(X, 1.0, 0.0, True, np, "X", E), -P @ E @ P, rtol=1e-12, atol=1e-13)


def test_pseudo_inverse_power_at_constant_rank(rng):
    """Along X(t) = A(t)A(t)ᵀ of rank 2 in 3 dimensions the first derivative is the constant-rank one."""
    A, B = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    X = A @ A.T
    Xdot = A @ B.T + B @ A.T
    F = lambda t: _psd_inv_power((A + t * B) @ (A + t * B).T, 0.5, 0.0, False, np)
    h = 1e-6
    np.testing.assert_allclose(_psd_power_derivative(X, 0.5, 0.0, False, np, "X", Xdot), (F(h) - F(-h)) / (2 * h),
                               rtol=1e-6, atol=1e-8)
    with pytest.raises(cs.SingularPreconditionerError, match="not implemented"):
        _psd_power_derivative(X, 0.5, 0.0, False, np, "X", Xdot, Xdot)
    with pytest.raises(cs.SingularPreconditionerError):
        _psd_power_derivative(X, 0.5, 0.0, True, np, "X", Xdot)


def test_mp_kernel_at_fifty_digits(rng):
    X, E = _spd(2, rng), _sym(2, rng)
    with mpmath.workdps(60):
        Xm, Em = (np.array([[mpmath.mpf(v) for v in r] for r in M], dtype=object) for M in (X, E))
        q = mpmath.mpf(1) / 3
        h = mpmath.mpf(10) ** -20  # central differences: error ≈ h² = 1e-40
        F = lambda Y: _psd_inv_power(Y, q, 0, False, None)
        fd = (F(Xm + h * Em) - F(Xm - h * Em)) / (2 * h)
        got = _psd_power_derivative(Xm, q, 0, False, None, "X", Em)
        assert max(abs(a - b) for a, b in zip(got.flat, fd.flat)) < mpmath.mpf(10) ** -38
    assert float(power_divided_difference([1.0, 1.0], 0.5, 1e-16)) == pytest.approx(-0.5)


def test_the_node_differentiates_into_itself_and_prints():
    X = MatrixSymbol("X", 2, 2)
    V = MatrixSymbol("V", 2, 2)
    P = PsdInvPower(X, sp.Rational(1, 2), 0, False, "X")
    d1 = cs.time_derivative(P, {X: V})
    assert isinstance(d1, PsdPowerDerivative) and d1.directions == (V,)
    d2 = cs.time_derivative(d1, {X: V})  # V constant: only the D² term
    assert isinstance(d2, PsdPowerDerivative) and d2.directions == (V, V)
    assert r"\mathrm{D}^{2}" in sp.latex(d2) and d2.T == d2
    with pytest.raises(cs.OptionError):
        PsdPowerDerivative(X, 1, 0, False, "X")


def test_fractional_k_fac_gets_modified_equations():
    from curvsym.problems import conditioned_instance

    from curvsym.verify.step_size import modified_equation_orders
    net = cs.chain([2, 2, 2])
    inst = conditioned_instance(net, seed=4)
    rule = cs.rules.kfac(q=sp.Rational(1, 2))
    res = modified_equation_orders(rule.flow(cs.model(net)), inst.weights, inst.data(), [0.04, 0.02], 0.08,
                                   orders=(1,), dps=16)
    assert abs(res.orders[1].slope - 2) < 0.1
