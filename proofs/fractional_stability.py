"""Fractional block correction: stable and balance-preserving for q < 1, not for q = 1 (Huh 2020).

Statement.  For the block rule dW_i/dt = −(G_i⁺)^q ∇_{W_i}L (A_i⁺)^q on one decoupled mode
with initial layer strengths a_i(0) = ε r_i (fixed unbalanced ratios r):
(i) the final imbalance max_{i,j} |a_i − a_j| / σ^{1/N} vanishes like ε^{2−2q} for q < 1
(the invariant a_i^{2−2q} − a_j^{2−2q} shrinks with ε) but stays O(1) for q = 1 (K-FAC
freezes the ratios a_i/a_j);
(ii) the first-step layer speed max_i |ȧ_i(0)| grows like ε^{−(N−1)} for q = 1 and stays
bounded (exponent 0) for q = ½ (MATH.md §1.5, §1.7 items 4–5).

Numeric check: N = 3, s = 1, r = (1, 1.6, 0.6), ε ∈ {10⁻², 10⁻³, 10⁻⁴}.  Final states from the
derived invariant and σ = s (exact, mpmath) — cross-checked against a DOP853 integration of
the derived mode ODEs at ε = 10⁻² — and speeds from the derived ȧ_i; log–log slopes are fitted.
Residual: the largest |fitted − predicted| exponent over (i) q ∈ {½, ¾} and q = 1 and (ii)
q ∈ {½, 1}; tolerance 0.02.

Negative control: the vanishing-imbalance law with the q = ½ exponent 1, applied to K-FAC.
"""

import math

import mpmath
import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

import curvsym as cs
from curvsym import modes, rules
from curvsym.checks import CheckResult

N, S_TARGET, R = 3, 1, (1, 1.6, 0.6)
EPS = (1e-2, 1e-3, 1e-4)


def _final_state(dyn, phi, eps):
    """Limit a(∞): φ(a_i) − φ(a_1) = φ(εr_i) − φ(εr_1) and Π a_i = s, solved at 40 digits."""
    with mpmath.workdps(40):
        f = sp.lambdify(sp.Symbol("x"), phi(sp.Symbol("x")), "mpmath")
        a0 = [mpmath.mpf(eps) * mpmath.mpf(r) for r in R]
        c = [f(a0[i]) - f(a0[0]) for i in range(N)]

        def others(x):
            return [mpmath.findroot(lambda y: f(y) - f(x) - c[i], max(x, mpmath.mpf("1e-30")))
                    if i else x for i in range(N)]

        x = mpmath.findroot(lambda x: mpmath.fprod(others(x)) - S_TARGET, mpmath.mpf(S_TARGET) ** (mpmath.mpf(1) / N))
        return [float(v) for v in others(x)]


def _imbalance(a):
    sigma = math.prod(a)
    return max(abs(x - y) for x in a for y in a) / sigma ** (1 / N)


def _slope(xs, ys):
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _integrated_final(dyn, eps):
    f = sp.lambdify([dyn.a, dyn.s], list(dyn.layer), "numpy")
    sol = solve_ivp(lambda t, y: f(y, S_TARGET), (0, 200), [eps * r for r in R], method="DOP853",
                    rtol=1e-11, atol=1e-14)
    return list(sol.y[:, -1])


@cs.theorem("fractional block q<1 keeps balance and bounded speeds; K-FAC does not", __doc__.split("\n\n")[1],
            digits=40)
def fractional_stability(digits: int) -> cs.Evidence:
    fits, preds, details = [], [], {}
    imbalance_slope = {}
    cross = 0.0
    proved = True
    for q in (sp.Rational(1, 2), sp.Rational(3, 4), sp.Integer(1)):
        dyn = modes.mode_ode(rules.kfac(q=q), N)
        phi, ok = modes.conserved_quantity(dyn)
        proved &= ok
        finals = [_final_state(dyn, phi, e) for e in EPS]
        slope = _slope(EPS, [_imbalance(a) for a in finals])
        imbalance_slope[q] = slope
        fits.append(slope)
        preds.append(float(2 - 2 * q))
        details[f"imbalance exponent q={q}"] = round(slope, 4)
        integ = _integrated_final(dyn, EPS[0])  # independent route: integrate the mode ODEs
        cross = max(cross, max(abs(x - y) for x, y in zip(integ, finals[0])))
    for q, pred in ((sp.Rational(1, 2), 0.0), (sp.Integer(1), -(N - 1.0))):
        dyn = modes.mode_ode(rules.kfac(q=q), N)
        f = sp.lambdify([dyn.a, dyn.s], list(dyn.layer), "numpy")
        speeds = [max(abs(v) for v in f([e * r for r in R], S_TARGET)) for e in EPS]
        slope = _slope(EPS, speeds)
        fits.append(slope)
        preds.append(pred)
        details[f"first-step speed exponent q={q}"] = round(slope, 4)
    residual = max(abs(f - p) for f, p in zip(fits, preds))
    details["integration cross-check |a_ODE − a_invariant|"] = cross
    numeric = CheckResult("max |fitted − predicted exponent|", residual, 0.02, residual <= 0.02 and cross < 1e-6,
                          details)
    neg_res = abs(imbalance_slope[sp.Integer(1)] - 1.0)
    negative = CheckResult("K-FAC imbalance against the q = ½ law ε¹", neg_res, 0.02, neg_res <= 0.02)
    notes = ", ".join(f"{k}: {v}" for k, v in details.items())
    return cs.Evidence("proved: invariants a^{2−2q} (q<1), ln a (q=1)" if proved else "refuted", numeric, negative,
                       notes)
