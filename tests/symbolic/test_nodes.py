"""The node protocol: a new symbolic matrix object is one class per layer, and every stage picks it up."""

import numpy as np
import pytest
import sympy as sp
from sympy import Basic, MatMul, MatrixSymbol

import curvsym as cs
from curvsym.codegen import generate, register_kernel_call
from curvsym.integrate.tape import trace_polynomial
from curvsym.symbolic.calculus import time_derivative
from curvsym.symbolic.matfuncs import OperatorInvPower, PsdInvPower
from curvsym.kernels import KERNELS, kernel
from curvsym.symbolic.nodes import MatrixNode


def _scaled_array(X, c, xp):
    """c·X (a toy kernel)."""
    return c * X


def _scaled_mp(X, c, xp):
    return X * c


_scaled = kernel("_scaled", _scaled_array, _scaled_mp)                    # kernels: registered by name


class Scaled(MatrixNode):
    """c·X written as a node: LaTeX and time derivative (mathematics only)."""

    def __new__(cls, X, c):
        return Basic.__new__(cls, X, sp.sympify(c))

    X = property(lambda self: self.args[0])
    c = property(lambda self: self.args[1])
    shape = property(lambda self: self.X.shape)

    def _latex(self, printer):
        return rf"{printer._print(self.c)} \cdot {printer._print(self.X)}"

    def _eval_time_derivative(self, velocities, d):
        return Scaled(d(self.X), self.c)


register_kernel_call(Scaled, "_scaled", lambda node, p: f"{p(node.X)}, {p(node.c)}, xp")  # codegen: its call


def test_a_new_node_is_one_class():
    W = MatrixSymbol("W", 2, 2)
    V = MatrixSymbol("V", 2, 2)
    e = MatMul(Scaled(W, 3), W)
    assert KERNELS["_scaled"] is _scaled                       # registered by name
    assert r"3 \cdot W" in sp.latex(e)                           # derive: LaTeX
    f = generate("toy", [W], [e])                               # codegen: printed as its kernel call
    assert "_scaled(W, 3, xp)" in f.source and not f.polynomial  # no Taylor rule ⇒ not polynomial
    w = np.array([[1.0, 2.0], [0.5, -1.0]])
    np.testing.assert_allclose(f.raw(w)[0], 3 * w @ w)
    dt = time_derivative(e, {W: V})                              # calculus: dispatch on the node
    g = generate("toy_dot", [W, V], [dt])
    v = np.array([[0.3, -0.2], [1.0, 0.1]])
    np.testing.assert_allclose(g.raw(w, v)[0], 3 * v @ w + 3 * w @ v)
    with pytest.raises(cs.NotPolynomialError):                   # integrate: Taylor refuses it by capability
        trace_polynomial(f, [])


def test_inverse_node_derivative_is_exact():
    """d/dt (X + λ)⁻¹ = −P Ẋ P and the constant-rank pseudo-inverse rule, against finite differences."""
    X = MatrixSymbol("X", 3, 3)
    V = MatrixSymbol("V", 3, 3)
    rng = np.random.default_rng(1)
    A = rng.standard_normal((3, 2))
    x = A @ A.T                     # PSD of rank 2
    Bv = rng.standard_normal((3, 2))
    v = A @ Bv.T + Bv @ A.T         # a direction that keeps the range (constant rank)
    for node, xval, vval in [(PsdInvPower(X, 1, sp.Rational(1, 10)), x, v), (PsdInvPower(X, 1, 0, False), x, v)]:
        f = generate("P", [X], [node])
        df = generate("dP", [X, V], [time_derivative(node, {X: V})])
        eps = 1e-6
        fd = (f.raw(xval + eps * vval)[0] - f.raw(xval - eps * vval)[0]) / (2 * eps)
        np.testing.assert_allclose(df.raw(xval, vval)[0], fd, rtol=1e-6, atol=1e-7)
    frac = PsdInvPower(X, sp.Rational(1, 2), sp.Rational(1, 10))  # a fractional power: its Fréchet derivative node
    f = generate("P", [X], [frac])
    df = generate("dP", [X, V], [time_derivative(frac, {X: V})])
    fd = (f.raw(x + 1e-6 * v)[0] - f.raw(x - 1e-6 * v)[0]) / 2e-6
    np.testing.assert_allclose(df.raw(x, v)[0], fd, rtol=1e-6, atol=1e-7)
    assert time_derivative(frac, {}).is_ZeroMatrix  # constant in time: 0


def test_operator_inverse_derivative_matches_finite_differences():
    """Y = 𝒦⁻¹R ⇒ Ẏ = 𝒦⁻¹(Ṙ − 𝒦̇(Y)) on a damped operator."""
    P, Q, R = (MatrixSymbol(n, 2, 2) for n in "PQR")
    dP, dQ, dR = (MatrixSymbol("d" + n, 2, 2) for n in "PQR")
    node = OperatorInvPower.of(R, [P, P.T], [Q, Q.T], 1, sp.Rational(1, 5))
    f = generate("Y", [P, Q, R], [node])
    df = generate("dY", [P, Q, R, dP, dQ, dR], [time_derivative(node, {P: dP, Q: dQ, R: dR})])
    rng = np.random.default_rng(2)
    vals = [rng.standard_normal((2, 2)) for _ in range(6)]
    vals[0] = vals[0] @ vals[0].T + np.eye(2)
    vals[1] = vals[1] @ vals[1].T + np.eye(2)
    vals[3] = vals[3] + vals[3].T
    vals[4] = vals[4] + vals[4].T
    eps = 1e-6
    plus = [a + eps * b for a, b in zip(vals[:3], vals[3:])]
    minus = [a - eps * b for a, b in zip(vals[:3], vals[3:])]
    fd = (f.raw(*plus)[0] - f.raw(*minus)[0]) / (2 * eps)
    np.testing.assert_allclose(df.raw(*vals)[0], fd, rtol=1e-6, atol=1e-8)
