r"""Extension without editing the package: a new activation and a new learning rule, each one class per layer.

Everything new lives in this file and is registered through public API:

* the activation σ(z) = z|z| (positively homogeneous of degree 2, σ'' jumps at 0):
  a kernel (:func:`curvsym.kernels.kernel`), a symbolic node (mathematics only),
  its call in generated code (:func:`curvsym.codegen.register_kernel_call`) and its
  Taylor rule (:func:`curvsym.integrate.taylor_rules.register_taylor_rule`, built from
  the package's ReLU-family switch |z| = M ⊙ z with M = ±1, so the Taylor stepper lands
  on its kinks);
* the rule "layer-wise rates" V_i = −c_i ∇_i L, a subclass of ``AbstractRule``.

Each runs derive → generate → integrate (float64 and Taylor at 30 digits) → a check,
and the checks assert mathematics: for σ homogeneous of degree p the per-neuron
quantity ‖u_k‖² − p‖v_k‖² (incoming row u_k, outgoing column v_k) is conserved by
gradient flow (the symmetry u → λu, v → λ^{−p}v), so with p = 2 it holds to 30 digits
while the degree-1 law (p = 1, the nearest wrong claim) drifts; for layer-wise rates
the balance C_i = W_{i+1}ᵀW_{i+1}/c_{i+1} − W_iW_iᵀ/c_i is conserved exactly (proved in
the free algebra) while the unscaled C_i is refuted.
"""

from typing import Any, ClassVar

import mpmath
import numpy as np
import sympy as sp
from sympy import MatAdd, MatMul, Transpose

import curvsym as cs
from curvsym import nonlinear as nl
from curvsym.codegen import register_kernel_call
from curvsym.integrate.elementwise import MaskedLinear
from curvsym.integrate.taylor_rules import register_taylor_rule
from curvsym.kernels import kernel
from curvsym.symbolic.activations import Activation, ActivationNode
from curvsym.symbolic.rules.base import AbstractRule
from curvsym.verify.identities import prove_conserved

# --------------------------------------------------------------------------- σ(z) = z|z|, one class per layer


def _zabs_array(Z, k, xp):
    """z|z|, 2|z|, 2 sign z for k = 0, 1, 2 (entrywise)."""
    a = xp.abs(Z)
    return Z * a if k == 0 else (2 * a if k == 1 else 2 * xp.sign(Z))


def _zabs_mp(Z, k, xp):
    f = {0: lambda z: z * abs(z), 1: lambda z: 2 * abs(z), 2: lambda z: 2 * mpmath.sign(z)}[k]
    return np.vectorize(f, otypes=[object])(Z)


_zabs = kernel("_zabs_test", _zabs_array, _zabs_mp)                         # kernels layer


class ZAbs(ActivationNode):                                                 # symbolic layer: mathematics only
    """σ(z) = z|z|: homogeneous of degree 2, σ' = 2|z| continuous, σ'' = 2 sign z jumps at 0."""

    key = "zabs"
    symbol = r"\operatorname{zabs}"
    piecewise = True
    taylor = True
    max_order = 2

    @classmethod
    def function(cls, z, *params):
        return z * sp.Abs(z)


register_kernel_call(ZAbs, "_zabs_test", lambda node, p: f"{p(node.Z)}, {node.order}, xp")   # codegen layer


class ZAbsRule:                                                             # integrate layer
    """Taylor rule: |z| = M ⊙ z with the switch mask M = ±1 (slope −1 below the kink), then σ = |z| ⊙ z,
    σ' = 2|z|, σ'' = 2M (constant inside a region)."""

    @classmethod
    def trace(cls, Z: Any, k: int, xp: Any = None):
        absz = MaskedLinear.trace(Z, 0, -1, xp)
        if k == 0:
            return absz * Z
        return 2 * absz if k == 1 else 2 * MaskedLinear.trace(Z, 1, -1, xp)


register_taylor_rule("_zabs_test", ZAbsRule)


def _problem(seed: int = 3):
    act = Activation("zabs", ZAbs)
    model = nl.data_model(cs.chain([2, 3, 2], activation=act), 5)
    rng = np.random.default_rng(seed)
    params = tuple(0.5 * rng.standard_normal(s) for s in nl.shapes(model))
    X, Y = nl.data_arrays(model, rng.standard_normal((2, 5)), rng.standard_normal((2, 5)))
    return model, params, X, Y


def _neuron_law(params, p) -> list:
    """‖u_k‖² − p‖v_k‖² for each hidden neuron k (u_k: row k of W_1, v_k: column k of W_2)."""
    W1, W2 = params
    return [sum(x * x for x in W1[k, :]) - p * sum(x * x for x in W2[:, k]) for k in range(W1.shape[0])]


def test_a_new_activation_runs_through_every_layer():
    model, params, X, Y = _problem()
    flow = nl.gradient_flow(model)
    assert r"\operatorname{zabs}" in flow.latex()                            # derive
    rhs = cs.generate_flow(flow)                                            # generate
    assert "_zabs_test(" in rhs.source and rhs.polynomial and rhs.piecewise
    dbl = cs.integrate(rhs, params, (X, Y), [0, 1], rtol=1e-13, atol=1e-14)  # integrate, float64
    hp = cs.integrate(cs.generate_flow(flow, "mpmath"), params, (X, Y), [0, 1], dps=30)  # Taylor, 30 digits
    assert hp.method.startswith("Taylor")
    for a, b in zip(hp.final, dbl.final):
        np.testing.assert_allclose(np.asarray(a, dtype=float), b, atol=1e-10)
    with mpmath.workdps(30):                                               # check: the degree-2 law holds …
        w0 = [np.vectorize(mpmath.mpf, otypes=[object])(w) for w in params]
        drift2, drift1 = (max(abs(a - b) for a, b in zip(_neuron_law(w0, p), _neuron_law(hp.final, p)))
                          for p in (2, 1))
    assert drift2 < mpmath.mpf(10) ** -25, drift2
    assert drift1 > 1e-3, drift1                                          # … the degree-1 law does not


# --------------------------------------------------------------------------- a new learning rule


class LayerwiseRates(AbstractRule):
    """V_i = −c_i ∇_i L with fixed positive rates c_i (one per layer)."""

    key: ClassVar[str] = "layerwise-test"
    title: ClassVar[str] = "layer-wise rates"
    formula: ClassVar[str] = r"\dot W_i = -c_i \nabla_{W_i} L"
    text: ClassVar[str] = "dW_i/dt = −c_i ∇_{W_i} L"

    def __init__(self, rates):
        self.rates = tuple(sp.nsimplify(c) for c in rates)

    def velocities(self, m):
        return tuple(MatMul(-c, g, evaluate=False) for c, g in zip(self.rates, m.gradient()))


def _scaled_balance(m, rates):
    W = m.weights
    return [MatAdd(MatMul(1 / rates[i + 1], Transpose(W[i + 1]), W[i + 1]),
                   MatMul(-1 / rates[i], W[i], Transpose(W[i]))) for i in range(len(W) - 1)]


def test_a_new_rule_runs_through_every_layer():
    rates = (1, sp.Rational(1, 2), 2)
    m = cs.model(cs.chain([2, 3, 3, 2]))
    flow = LayerwiseRates(rates).flow(m)                                    # derive
    proofs = prove_conserved(flow, _scaled_balance(m, rates), ["S_1", "S_2"])
    assert [p.status for p in proofs] == ["proved", "proved"]
    assert [p.status for p in prove_conserved(flow)] == ["refuted", "refuted"]  # the unscaled C_i: the control
    inst = cs.problems.random_instance(m.network, seed=4)
    rhs = cs.generate_flow(flow, "mpmath")                                  # generate
    traj = cs.integrate(rhs, inst.weights, inst.data(), [0, 1], dps=30)    # integrate (Taylor, 30 digits)
    q = cs.generate_expressions(m, "S", _scaled_balance(m, rates), backend="mpmath")
    check = cs.check_conservation("scaled balance", traj, q, inst.data())  # check
    assert check.passed and check.residual < 1e-25
    unscaled = cs.generate_expressions(m, "C", list(cs.balance(m)), backend="mpmath")
    assert not cs.check_conservation("C_i", traj, unscaled, inst.data()).passed
