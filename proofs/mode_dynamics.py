"""Per-mode dynamics: derived ODEs, conserved quantities and closed forms (Saxe 2014; Huh 2020).

Statement.  Under the decoupled ansatz (whitened data, W_i = U_i diag(a_i) U_{i−1}ᵀ) every
rule keeps the modes decoupled, and each mode obeys (σ = Π a_i, |J|² = Σ(σ/a_i)²):
GD ȧ_i = (s−σ)σ/a_i with invariant a_i² − a_j²; NGD ȧ_i = (s−σ)(σ/a_i)/|J|², σ̇ = s − σ,
invariant a_i² − a_j²; K-FAC ȧ_i = (s−σ)a_i/σ, σ̇ = N(s−σ), invariant ln a_i − ln a_j;
fractional block q: invariant a_i^{2−2q} − a_j^{2−2q}.  On the balanced manifold GD with
N = 2 is Saxe's sigmoid σ(t) = sσ0e^{2st}/(s + σ0(e^{2st} − 1)), NGD and K-FAC are the
exponentials σ = s − (s − σ0)e^{−t}, e^{−Nt} (docs/mathematics.md §1.4, §6).

Symbolic: the ODEs are derived from the matrix flows (off-diagonal velocities ≡ 0, modes
independent), the invariants derived and proved, the closed forms found by dsolve.

Numeric check: the *matrix* flows (2 modes, random orthogonal U_i, balanced decoupled
init) integrated at ``digits`` digits follow the dsolve closed forms of both modes.

Negative control: the GD matrix flow from a start 10% off balance in every mode
(a_1 = 1.1·a, a_2 = a/1.1: the same σ0) against Saxe's sigmoid, by the same check.

Why this control is the nearest.  Saxe's sigmoid is routinely applied to any small
initialisation, but it is a law of the balanced manifold: balance is its one hypothesis
beyond the decoupled ansatz, and the NGD and K-FAC laws above do not need it (their σ̇ does
not depend on the a_i).  A 10% imbalance at the same σ0 is the smallest departure from that
hypothesis an experiment would still call unbalanced; the mode then follows the hyperbola
a_1² − a_2² = const instead, and the check must tell the difference.  The previous control
(a 4:1 imbalance) was far from the claim.
"""

import functools

import mpmath
import numpy as np
import sympy as sp

import curvsym as cs
from curvsym import modes, rules
from curvsym.checks import CheckResult
from curvsym.problems import exact_orthogonal
from curvsym.verify import seeds

EXPECTED_PHI = {"gd": lambda x: x ** 2 / 2, "ngd": lambda x: x ** 2 / 2, "kfac": sp.log,
                "kfac-frac": lambda x: x, "bernacchia": sp.log}


def decoupled(N, a, s, seed, digits):
    """Matrix initial condition W_i = U_i diag(a_i) U_{i−1}ᵀ and target T = U_N diag(s) U_0ᵀ."""
    rng = seeds.rng(seed)
    with mpmath.workdps(digits + 10):
        # rotations built at the working precision: exactly orthogonal, unlike float QR factors
        U = [exact_orthogonal(2, rng) for _ in range(N + 1)]
        Um = U
        ws = tuple(Um[i + 1] @ np.diag(np.array(a[i], dtype=object)) @ Um[i].T for i in range(N))
        T = Um[N] @ np.diag(np.array([mpmath.mpf(v) for v in s], dtype=object)) @ Um[0].T
    return U, ws, T


def mode_strengths(U, state):
    return [[(U[i + 1].T @ W @ U[i])[k, k] for i, W in enumerate(state)] for k in range(2)]


def closed_form_residual(rule, N, a0, s, times, digits, law):
    """max over modes and times of |σ_k(t) − law(t; s_k, σ_k(0))| for the matrix flow."""
    U, ws, T = decoupled(N, a0, s, seed=N, digits=digits)
    m = cs.model(cs.chain([2] * (N + 1)), whitened=True)
    traj = cs.integrate(cs.generate_flow(rule.flow(m), "mpmath"), ws, [T], times, dps=digits)
    worst = mpmath.mpf(0)
    with mpmath.workdps(digits + 10):
        for k in range(2):
            sig0 = mpmath.fprod(a0[i][k] for i in range(N))
            for t, state in zip(traj.t, traj.states):
                sig = mpmath.fprod(mode_strengths(U, state)[k])
                worst = max(worst, abs(sig - law(t, mpmath.mpf(s[k]), sig0)))
    return worst


@cs.theorem("mode ODEs, invariants and closed forms from the matrix flows", __doc__.split("\n\n")[1], digits=30, cost=7, section="§1.4")
def mode_dynamics(digits: int) -> cs.Evidence:
    proved = True
    ode = functools.cache(lambda key, N: modes.mode_ode(rules.get_rule(key), N))  # each system derived once
    for key in ("gd", "ngd", "kfac", "kfac-frac", "bernacchia"):
        dyn = ode(key, 3)
        phi, ok = modes.conserved_quantity(dyn)
        x = sp.Symbol("x", positive=True)
        same = sp.simplify(sp.diff(phi(x) - EXPECTED_PHI[key](x), x)) == 0
        proved &= ok and same
    laws = {}
    for key, N in (("gd", 2), ("ngd", 3), ("kfac", 3)):
        sol = modes.solve_balanced(ode(key, N))
        proved &= sol is not None
        laws[key] = sp.lambdify((sp.Symbol("t", nonnegative=True), sp.Symbol("s", positive=True),
                                 sp.Symbol("sigma_0", positive=True)), sol.expr, "mpmath")
    s = ["1.5", "0.6"]
    bal2 = [["0.3", "0.2"], ["0.3", "0.2"]]                     # a_1 = a_2 per mode: balanced, N = 2
    bal3 = [["0.5", "0.4"], ["0.5", "0.4"], ["0.5", "0.4"]]
    a0 = [[mpmath.mpf(v) for v in row] for row in bal2]
    a3 = [[mpmath.mpf(v) for v in row] for row in bal3]
    res = max(closed_form_residual(rules.gd(), 2, a0, s, [0, 1, 2, 4], digits, laws["gd"]),
              closed_form_residual(rules.natural_gradient(), 3, a3, s, [0, 1, 2], digits, laws["ngd"]),
              closed_form_residual(rules.kfac(), 3, a3, s, [0, 0.5, 1], digits, laws["kfac"]))
    tol = 10.0 ** (-(digits - 10))
    numeric = CheckResult("|σ_k(t) − closed form| (GD N=2, NGD N=3, K-FAC N=3)", float(res), tol, float(res) <= tol)
    with mpmath.workdps(digits + 10):  # 10% off balance, same σ0 = 0.09, 0.04
        off = mpmath.mpf("1.1")
        unbal = [[mpmath.mpf("0.3") * off, mpmath.mpf("0.2") * off], [mpmath.mpf("0.3") / off, mpmath.mpf("0.2") / off]]
    neg = closed_form_residual(rules.gd(), 2, unbal, s, [0, 1, 2, 4], digits, laws["gd"])
    negative = CheckResult("GD 10% off balance against Saxe's sigmoid", float(neg), tol, float(neg) <= tol)
    return cs.Evidence("proved: ODEs derived, invariants proved, dsolve closed forms" if proved else "refuted",
                       numeric, negative)
