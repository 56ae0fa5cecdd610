"""Modified equations, step changes of balance and trace gradients (curvsym.symbolic.step_maps).

Independent routes: the generated corrections against central finite differences of the
generated velocity, and the Barrett–Dherin identity against finite differences of ‖∇L‖².
About 3 s.
"""

import numpy as np
import pytest
import sympy as sp
from curvsym.problems import conditioned_instance, random_instance
from sympy import MatrixSymbol, Transpose

import curvsym as cs
from curvsym.symbolic import step_maps as d
from curvsym.symbolic.algebra import noncommutative
from curvsym.verify import identities


def _numeric(exprs, m, params=()):
    return cs.generate_expressions(m, "e", list(exprs), params)


def _fd_directional(f, W, V, data, h=1e-5):
    """(f(W + hV) − f(W − hV)) / 2h, layer by layer."""
    plus = f([w + h * v for w, v in zip(W, V)], *data)
    minus = f([w - h * v for w, v in zip(W, V)], *data)
    return [(a - b) / (2 * h) for a, b in zip(plus, minus)]


def test_first_correction_is_minus_a_quarter_gradient_of_the_gradient_norm_by_finite_differences():
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=3, scale=0.9)
    W, data = inst.weights, inst.data()
    f1 = _numeric(d.modified_equation(cs.gradient_flow(m), 1).corrections[0], m)(W, *data)
    grad = cs.generate_expressions(m, "g", list(cs.gradient(m)))

    def norm2(ws):
        return sum(float(np.sum(g ** 2)) for g in grad(ws, *data))
    h = 1e-6
    for k, w in enumerate(W):
        fd = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            e = np.zeros_like(w)
            e[idx] = h
            plus = [x + (e if j == k else 0) for j, x in enumerate(W)]
            minus = [x - (e if j == k else 0) for j, x in enumerate(W)]
            fd[idx] = (norm2(plus) - norm2(minus)) / (2 * h)
        np.testing.assert_allclose(f1[k], -fd / 4, rtol=1e-6, atol=1e-8)


def test_second_correction_against_finite_differences_of_the_velocity():
    """f₂ = ⅓ f′f′f + 1⁄12 f″(f, f) with f′, f″ by central differences of the generated rule (K-FAC)."""
    net = cs.chain([2, 2, 2])
    m = cs.model(net)
    inst = conditioned_instance(net, seed=4)
    flow = cs.rules.kfac().flow(m)
    W, data = inst.weights, inst.data()
    f = cs.generate_flow(flow)
    me = d.modified_equation(flow, 2)
    f1, f2 = (_numeric(c, m)(W, *data) for c in me.corrections)
    v = f(W, *data)
    fpf = _fd_directional(f, W, v, data)
    np.testing.assert_allclose(np.concatenate([x.ravel() for x in f1]),
                               np.concatenate([-0.5 * x.ravel() for x in fpf]), rtol=1e-6, atol=1e-8)
    fpfpf = _fd_directional(f, W, fpf, data)
    h = 1e-4
    plus, mid, minus = (f([w + s * h * x for w, x in zip(W, v)], *data) for s in (1, 0, -1))
    fpp = [(a - 2 * b + c) / h ** 2 for a, b, c in zip(plus, mid, minus)]
    expected = [x / 3 + y / 12 for x, y in zip(fpfpf, fpp)]
    np.testing.assert_allclose(np.concatenate([x.ravel() for x in f2]),
                               np.concatenate([x.ravel() for x in expected]), rtol=1e-4, atol=1e-6)


def test_barrett_dherin_identity_is_proved_and_wrong_coefficients_are_refuted():
    for m in (cs.model(cs.chain([2, 3, 2])), cs.model(cs.chain([2, 2, 3, 2])), cs.model(cs.chain([2, 3, 2]), True),
              cs.model(cs.resnet(2, 2))):
        assert all(p.status == "proved" and p.n_terms == 0 for p in identities.prove_implicit_regulariser(m))
    m = cs.model(cs.chain([2, 3, 2]))
    for c in (sp.Rational(-1, 2), sp.Rational(1, 4)):
        out = identities.prove_implicit_regulariser(m, c)
        assert all(p.status == "refuted" and p.counterexample > 0.1 for p in out)


def test_trace_gradient_of_known_traces():
    A, X, B = (sp.Symbol(n, commutative=False) for n in ("A", "X", "B"))
    Xm = MatrixSymbol("X", 2, 2)
    At, Bt = sp.Symbol("A^T", commutative=False), sp.Symbol("B^T", commutative=False)
    Xt = sp.Symbol("X^T", commutative=False)
    assert d.trace_gradient(A * X * B, Xm) == At * Bt                         # ∂tr(AXB)/∂X = (BA)ᵀ = AᵀBᵀ
    assert d.trace_gradient(A * Xt * B, Xm) == B * A                          # ∂tr(AXᵀB)/∂X = BA
    assert sp.expand(d.trace_gradient(Xt * X, Xm) - 2 * X) == 0               # ∂‖X‖²/∂X = 2X
    assert sp.expand(d.trace_gradient(X * X, Xm) - 2 * Xt) == 0               # ∂tr(X²)/∂X = 2Xᵀ
    S = sp.Symbol("S", commutative=False)
    assert sp.expand(d.trace_gradient(Xt * S * X, Xm, symmetric=["S"]) - 2 * S * X) == 0


def test_from_words_inverts_the_free_algebra_map():
    m = cs.model(cs.chain([2, 3, 2]))
    for g in cs.gradient(m):
        e = cs.derive.MatMul(g, Transpose(g))
        nc = noncommutative(e, [m.Sigma])
        assert sp.expand(noncommutative(d.from_words(nc, m), [m.Sigma]) - nc) == 0
    with pytest.raises(cs.ShapeError):
        d.from_words(sp.Symbol("Q", commutative=False), m)


def test_step_change_of_balance_is_exactly_eta_squared_for_row_space_rules():
    for widths in ([2, 3, 2], [3, 2, 2, 3], [2, 2, 2, 2, 2]):
        m = cs.model(cs.chain(widths))
        assert all(p.holds for p in identities.prove_step_change(cs.gradient_flow(m)))
        assert all(p.holds for p in identities.prove_step_change(cs.rules.natural_gradient().flow(m)))
    m = cs.model(cs.chain([2, 2, 2]))
    bad = identities.prove_step_change(cs.rules.kfac().flow(m))
    assert bad[0].status == "refuted" and bad[0].n_terms > 0
    # the law is not C_i-conservation: the η² term is non-zero at a generic point
    law = _numeric(d.balance_step_law(cs.gradient_flow(m)), m, (d.ETA,))
    inst = random_instance(m.network, seed=1)
    assert np.max(np.abs(law(inst.weights, *inst.data(), eta=0.1)[0])) > 1e-5


def test_modified_equation_options_and_what_cannot_be_differentiated():
    m = cs.model(cs.chain([2, 2, 2]))
    flow = cs.gradient_flow(m)
    assert d.modified_equation(flow, 0).velocities == flow.velocities
    me = d.modified_equation(flow, 2)
    assert me.flow().parameters == (d.ETA,) and "f_{2}" in me.latex()
    for bad in (3, -1, True, 1.5):
        with pytest.raises(cs.OptionError):
            d.modified_equation(flow, bad)
    with pytest.raises(cs.NotDifferentiableError, match="OperatorInvPower"):
        d.modified_equation(cs.rules.natural_gradient().flow(m), 1)  # the pseudo-inverse 𝒦⁺ has no derivative
    assert d.modified_equation(cs.rules.natural_gradient(strict=True).flow(m), 1).order == 1


def test_zero_terms_are_pruned_from_derivatives():
    m = cs.model(cs.chain([2, 3, 2]))
    src = cs.generate_flow(d.modified_equation(cs.gradient_flow(m), 2).flow(), "mpmath").source
    assert "_zeros" not in src
    Z = sp.ZeroMatrix(2, 2)
    X = MatrixSymbol("X", 2, 2)
    assert d.prune_zeros(sp.MatAdd(X, sp.MatMul(X, Z, evaluate=False), evaluate=False)) == X
    assert d.prune_zeros(Transpose(sp.MatMul(Z, X, evaluate=False))).is_ZeroMatrix
