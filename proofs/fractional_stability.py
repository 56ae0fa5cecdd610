"""Fractional block correction: stable and balance-preserving for q < 1, not for q = 1 (Huh 2020).

Statement.  For the block rule dW_i/dt = −(G_i⁺)^q ∇_{W_i}L (A_i⁺)^q on one decoupled mode
(whitened data; mode ODE ȧ_i = (s − σ)(σ/a_i)^{1−2q}, derived from the matrix flow) with
initial layer strengths a_i(0) = ε r_i (fixed unbalanced ratios r) and s > 0:
(i) the final imbalance I(ε) = max_{i,j} |a_i(∞) − a_j(∞)| / σ(∞)^{1/N} vanishes like ε^{2−2q}
for q < 1, because a_i^{2−2q} − a_j^{2−2q} is conserved and starts at ε^{2−2q}(r_i^{2−2q} −
r_j^{2−2q}); for q = 1 (K-FAC) the ratios a_i/a_j are conserved and I(ε) is the constant
max|r_i − r_j|/(Π r)^{1/N};
(ii) the first-step layer speed max_i |ȧ_i(0)| scales like ε^{(N−1)(1−2q)}: bounded (exponent 0)
for q = ½, divergent like ε^{−(N−1)} for K-FAC (docs/mathematics.md §1.5, §1.7 items 4–5).

Numeric check: N = 3, s = 1, r = (1, 1.6, 0.6), ε ∈ {10⁻², 10⁻³, 10⁻⁴}.  Final states come from
integrating the derived mode ODEs (SciPy DOP853, rtol 1e-12, t ∈ [0, 40]; σ(40) = s to 1e-11) at
every ε and every q ∈ {½, ¾, 9/10, 1}; the speeds are the derived ȧ_i at t = 0; log–log slopes are
fitted.  Residual: the largest |fitted − predicted| exponent over (i) and (ii) (q ∈ {½, ¾, 1})
and the relative error of K-FAC's limit imbalance; tolerance 0.02.  Independent cross-check,
required below 1e-8: the integrated final states against the limits solved from the derived
invariant (φ(a_i) − φ(a_1) conserved, Π a_i = s) at 40 digits, at every ε and q.

Negative control: the same fits against the nearest wrong exponents — for (i) the rule's other
exponent (2 − 2q)(1 − 1/N) (that of its balanced speed σ̇ = Nσ^{(2−2q)(1−1/N)}(s − σ)), for
q ∈ {½, ¾, 9/10}; for (ii) the depth off by one, N(1 − 2q), for q ∈ {¾, 1}.  Every one must be
rejected (residual: the smallest |fitted − wrong|).

Why this control is the nearest.  A claim about a power law is wrong in its exponent, so the
alternatives are exponents, and the plausible ones are those a reader of the mode table would
write down: the table's other exponent in q, (2 − 2q)(1 − 1/N), which differs by only
(2 − 2q)/N (1/15 at q = 9/10, the closest of all), and the speed exponent with N miscounted by one
(½ away at q = ¾; at q = ½ every depth gives 0, so there is nothing to confuse).  The previous
control compared K-FAC with the q = ½ exponent 1, a different rule, and was rejected whatever
the truth.  The tolerance 0.02 is ten times the largest slope bias left by the O(ε^{2−2q})
corrections (≤ 2e-3 here) and under a third of the nearest wrong gap.
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
QS = (sp.Rational(1, 2), sp.Rational(3, 4), sp.Rational(9, 10), sp.Integer(1))
T_END = 40.0


def integrated_final(dyn, eps):
    """a(T_END) from DOP853 on the derived mode ODEs, started at a_i = ε r_i."""
    f = sp.lambdify([dyn.a, dyn.s], list(dyn.layer), "numpy")
    sol = solve_ivp(lambda t, y: f(y, S_TARGET), (0, T_END), [eps * r for r in R], method="DOP853",
                    rtol=1e-12, atol=1e-15)
    if not sol.success:
        raise cs.DivergenceError(f"mode ODE integration failed at ε = {eps}: {sol.message}", float(sol.t[-1]))
    return [float(v) for v in sol.y[:, -1]]


def invariant_final(phi, eps):
    """Limit a(∞) solved from φ(a_i) − φ(a_1) = φ(εr_i) − φ(εr_1) and Π a_i = s, at 40 digits."""
    with mpmath.workdps(40):
        f = sp.lambdify(sp.Symbol("x"), phi(sp.Symbol("x")), "mpmath")
        a0 = [mpmath.mpf(eps) * mpmath.mpf(r) for r in R]
        c = [f(a0[i]) - f(a0[0]) for i in range(N)]

        def others(x):
            return [mpmath.findroot(lambda y: f(y) - f(x) - c[i], max(x, mpmath.mpf("1e-30")))
                    if i else x for i in range(N)]

        x = mpmath.findroot(lambda x: mpmath.fprod(others(x)) - S_TARGET, mpmath.mpf(S_TARGET) ** (mpmath.mpf(1) / N))
        return [float(v) for v in others(x)]


def imbalance(a):
    return max(abs(x - y) for x in a for y in a) / math.prod(a) ** (1 / N)


def slope(xs, ys):
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


@cs.theorem("fractional block q<1 keeps balance and bounded speeds; K-FAC does not", __doc__.split("\n\n")[1],
            digits=40, cost=1.2, section="§1.5")
def fractional_stability(digits: int) -> cs.Evidence:
    details, errors, wrong_gaps = {}, [], []
    cross, proved, sigma_err = 0.0, True, 0.0
    for q in QS:
        dyn = modes.mode_ode(rules.kfac(q=q), N)
        phi, ok = modes.conserved_quantity(dyn)
        proved &= ok
        finals = [integrated_final(dyn, e) for e in EPS]
        sigma_err = max(sigma_err, max(abs(math.prod(a) - S_TARGET) for a in finals))
        for e, a in zip(EPS, finals):  # independent route: the derived invariant
            cross = max(cross, max(abs(x - y) for x, y in zip(a, invariant_final(phi, e))))
        imb = [imbalance(a) for a in finals]
        fit = slope(EPS, imb)
        details[f"imbalance exponent q={q}"] = round(fit, 5)
        errors.append(abs(fit - float(2 - 2 * q)))
        if q < 1:
            wrong_gaps.append(abs(fit - float((2 - 2 * q) * (1 - sp.Rational(1, N)))))
        else:
            frozen = max(abs(x - y) for x in R for y in R) / math.prod(R) ** (1 / N)
            errors.append(max(abs(v - frozen) / frozen for v in imb))
            details["K-FAC limit imbalance (predicted)"] = f"{imb[-1]:.10f} ({frozen:.10f})"
    for q in (sp.Rational(1, 2), sp.Rational(3, 4), sp.Integer(1)):
        dyn = modes.mode_ode(rules.kfac(q=q), N)
        f = sp.lambdify([dyn.a, dyn.s], list(dyn.layer), "numpy")
        fit = slope(EPS, [max(abs(v) for v in f([e * r for r in R], S_TARGET)) for e in EPS])
        details[f"first-step speed exponent q={q}"] = round(fit, 5)
        errors.append(abs(fit - float((N - 1) * (1 - 2 * q))))
        if q != sp.Rational(1, 2):
            wrong_gaps.append(abs(fit - float(N * (1 - 2 * q))))
    residual = max(errors)
    details["cross-check |a_ODE − a_invariant| (all ε, q)"] = cross
    details["|σ(T_end) − s| (all ε, q)"] = sigma_err
    numeric = CheckResult("max |fitted − predicted exponent|, K-FAC limit", residual, 0.02,
                          residual <= 0.02 and cross < 1e-8 and sigma_err < 1e-9, details)
    negative = CheckResult("fits against the nearest wrong exponents (2−2q)(1−1/N) and N(1−2q)", min(wrong_gaps),
                           0.02, min(wrong_gaps) <= 0.02, {"gaps": [round(g, 4) for g in wrong_gaps]})
    notes = ", ".join(f"{k}: {v}" for k, v in details.items())
    return cs.Evidence("proved: invariants a^{2−2q} (q<1), ln a (q=1)" if proved else "refuted", numeric, negative,
                       notes)
