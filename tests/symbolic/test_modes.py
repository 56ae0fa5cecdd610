"""Mode dynamics: derived ODEs against the table of docs/mathematics.md §6 and the matrix flow."""

import numpy as np
import pytest
import sympy as sp

import curvsym as cs
from curvsym import modes, rules

a1, a2, a3 = sp.symbols("a_1 a_2 a_3", positive=True)
s = sp.Symbol("s", positive=True)
sig = a1 * a2 * a3
J2 = (sig / a1) ** 2 + (sig / a2) ** 2 + (sig / a3) ** 2
TABLE = {  # ȧ_1 and σ̇ for N = 3 (docs/mathematics.md §6)
    "gd": ((s - sig) * sig / a1, (s - sig) * J2),
    "ngd": ((s - sig) * (sig / a1) / J2, s - sig),
    "kfac": ((s - sig) * a1 / sig, 3 * (s - sig)),
    "bernacchia": ((s - sig) * a1 / (3 * sig), s - sig),
}


@pytest.mark.parametrize("key", sorted(TABLE))
def test_derived_mode_odes_match_the_table(key):
    dyn = modes.mode_ode(rules.get_rule(key), 3)
    adot, sdot = TABLE[key]
    assert sp.simplify(dyn.layer[0] - adot) == 0
    assert sp.simplify(dyn.sigma - sdot) == 0


@pytest.mark.parametrize("q", [sp.Rational(1, 4), sp.Rational(1, 2), sp.Rational(3, 4)])
def test_fractional_rules_match_the_table(q):
    full = modes.mode_ode(rules.natural_gradient(q=q), 3)
    block = modes.mode_ode(rules.kfac(q=q), 3)
    assert sp.simplify(sp.powsimp(full.layer[0] - (s - sig) * (sig / a1) / J2 ** q, force=True)) == 0
    assert sp.simplify(sp.powsimp(block.layer[0] - (s - sig) * (sig / a1) ** (1 - 2 * q), force=True)) == 0
    phi, ok = modes.conserved_quantity(block)
    x = sp.Symbol("x", positive=True)
    assert ok and sp.simplify(sp.diff(phi(x), x) - x ** (1 - 2 * q)) == 0


def test_balanced_laws_and_closed_forms():
    gd2 = modes.mode_ode(rules.gd(), 2)
    sigma = sp.Symbol("sigma", positive=True)
    assert sp.simplify(modes.balanced_sigma_ode(gd2) - 2 * sigma * (s - sigma)) == 0
    sol = modes.solve_balanced(gd2)
    t, s0 = sp.Symbol("t", nonnegative=True), sp.Symbol("sigma_0", positive=True)
    saxe = s * sp.exp(2 * s * t) / (sp.exp(2 * s * t) - 1 + s / s0)
    assert sp.simplify(sol(t) - saxe) == 0
    gd4 = modes.mode_ode(rules.gd(), 4)
    assert sp.simplify(modes.balanced_sigma_ode(gd4) - 4 * sigma ** sp.Rational(3, 2) * (s - sigma)) == 0


def test_mode_ode_agrees_with_the_matrix_flow_numerically():
    """Independent route: the 2-mode matrix flow with random rotations, diagonal read off."""
    rng = np.random.default_rng(0)
    N = 3
    U = [np.linalg.qr(rng.standard_normal((2, 2)))[0] for _ in range(N + 1)]
    a = rng.uniform(0.3, 1.2, size=(N, 2))
    svals = np.array([1.7, 0.4])
    ws = [U[i + 1] @ np.diag(a[i]) @ U[i].T for i in range(N)]
    T = U[N] @ np.diag(svals) @ U[0].T
    m = cs.model(cs.chain([2] * (N + 1)), whitened=True)
    for key in ("gd", "ngd", "kfac"):
        rule = rules.get_rule(key)
        V = cs.generate_flow(rule.flow(m))(ws, T)
        dyn = modes.mode_ode(rule, N)
        f = sp.lambdify([dyn.a, dyn.s], list(dyn.layer))
        for k in range(2):
            pred = f(list(a[:, k]), svals[k])
            got = [(U[i + 1].T @ V[i] @ U[i])[k, k] for i in range(N)]
            np.testing.assert_allclose(got, pred, rtol=1e-10)
        off = max(abs((U[i + 1].T @ V[i] @ U[i])[0, 1]) for i in range(N))
        assert off < 1e-12


def test_no_invariant_of_separable_form_is_reported_as_such():
    t = rules.template
    weird = rules.custom("weird", -(t.grad + t.grad @ t.A))  # ȧ_i/ȧ_j does not separate
    dyn = modes.mode_ode(weird, 2)
    with pytest.raises(ValueError, match="separate"):
        modes.conserved_quantity(dyn)
