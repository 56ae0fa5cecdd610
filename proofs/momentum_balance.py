"""Under heavy ball, balance is not conserved: C̈_i + γĊ_i = 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ).

Statement (docs/mathematics.md §10.5; cf. Marcotte, Gribonval & Peyré, "Keep the momentum", 2024).  For a
deep linear network under the heavy-ball flow Ẇ_i = V_i, V̇_i = −γV_i − ∇_iL (any widths, Σx ≻ 0, T, γ),
the balance C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ obeys exactly

    C̈_i + γĊ_i = 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ),

so the gradient-flow conservation law C_i = const does not survive momentum; what survives is the
time-dependent law d/dt(e^{γt}Ċ_i) = 2e^{γt}(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ), and C_i is conserved only along
motions whose kinetic balance vanishes.

Symbolic proof: C̈_i + γĊ_i − 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ), built by two time derivatives of C_i along the
derived augmented flow (rules.heavy_ball, state W and V), expands to 0 in the free algebra with symbolic γ
for chains of depth 2…5 (non-white Σx).

Numeric check: chain 3-4-2-3, non-white Σx, γ = 3/2, W(0) random, V(0) = 0.3·random; the augmented flow by
the Taylor method at `digits` digits; at t ∈ {0.3, 0.7} C̈ and Ċ are central differences of C(t ± δ),
δ = 10^{−digits/4}, from the same trajectory.  Residual: max |C̈ + γĊ − 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)| /
(1 + max|C̈|), tolerance 10^{−digits/4} (the differences' truncation δ² and rounding 10^{−digits}/δ²).

Negative control: the gradient-flow law carried over, C̈_i + γĊ_i = 0 (equivalently C_i(t) = C_i(0) +
Ċ_i(0)(1 − e^{−γt})/γ): symbolically non-zero (a numeric counterexample), and rejected by the same
numeric check.  It is the nearest plausible wrong claim: the force −∇L is a row-space velocity, so every
term of C̈ + γĊ that involves the gradient does cancel, exactly as for gradient flow; only the kinetic
term 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ) — zero at V = 0, so invisible from a start at rest — is left.
"""

import mpmath
import numpy as np
import sympy as sp
from curvsym.checks import CheckResult
from curvsym.problems import random_instance
from curvsym.verify import seeds

import curvsym as cs
from curvsym.symbolic.memory_limits import kinetic_balance
from curvsym.symbolic.rules.memory import initial_state
from curvsym.verify.memory_limit_checks import prove_momentum_balance

GAMMA = sp.Rational(3, 2)


def _worst(times, states, fn, kin, data, gamma, delta):
    """max over the centre times of |C̈ + γĊ − K| / (1 + max|C̈|), by central differences."""
    worst = mpmath.mpf(0)
    for j in range(0, len(times), 3):
        Cm, C0, Cp = (fn(states[j + k], *data) for k in range(3))
        K = kin(states[j + 1], *data)
        for a, b, c, k in zip(Cm, C0, Cp, K):
            cdd = (a - 2 * b + c) / delta ** 2
            cd = (c - a) / (2 * delta)
            r = np.max(np.abs(cdd + gamma * cd - k)) if k is not None else np.max(np.abs(cdd + gamma * cd))
            worst = max(worst, r / (1 + np.max(np.abs(cdd))))
    return float(worst)


@cs.theorem("under heavy ball C̈_i + γĊ_i = 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)", __doc__.split("\n\n")[1], digits=50,
            cost=3, section="§10.5")
def momentum_balance(digits: int) -> cs.Evidence:
    proofs = [p for N in range(2, 6) for p in prove_momentum_balance(cs.model(cs.deep_chain(N, 2)))]
    proved = all(p.holds for p in proofs)
    m2 = cs.model(cs.chain([2, 3, 2]))
    control = prove_momentum_balance(m2, None, (None,))
    refuted = all(p.status == "refuted" for p in control)
    if not proved:
        symbolic = "refuted: the residual does not expand to 0"
    elif not refuted:
        symbolic = "refuted: the control C̈ + γĊ = 0 was not refuted"
    else:
        symbolic = "proved (N = 2…5, symbolic γ); C̈ + γĊ = 0 refuted"

    net = cs.chain([3, 4, 2, 3])
    m = cs.model(net)
    inst = random_instance(net, seed=seeds.pick(7), scale=0.8)
    rng = seeds.rng(11)
    rule = cs.rules.heavy_ball(GAMMA)
    flow = rule.flow(m)
    y0 = initial_state(rule, m, inst.weights, V=[0.3 * rng.standard_normal(w.shape) for w in inst.weights])
    delta = mpmath.mpf(10) ** (-(digits // 4))
    with mpmath.workdps(digits + 10):
        times = [t + k * delta for t in (mpmath.mpf("0.3"), mpmath.mpf("0.7")) for k in (-1, 0, 1)]
    traj = cs.integrate(cs.generate_flow(flow, "mpmath"), y0, inst.data(), [0, *times], dps=digits)
    states = traj.states[1:]
    sm = flow.model
    fn = cs.generate_expressions(sm, "balance", list(cs.balance(m)), backend="mpmath")
    kin = cs.generate_expressions(sm, "kinetic", list(kinetic_balance(sm, 3)), backend="mpmath")
    data = cs.to_mp(inst.data(), digits + 10)
    g = mpmath.mpf(3) / 2
    with mpmath.workdps(digits + 10):
        res = _worst(times, states, fn, kin, data, g, delta)
        res_bad = _worst(times, states, fn, lambda *a: (None, None), data, g, delta)
    tol = 10.0 ** (-(digits // 4))
    numeric = CheckResult("max |C̈ + γĊ − 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)| / (1 + |C̈|), chain 3-4-2-3", res, tol,
                          res <= tol)
    negative = CheckResult("max |C̈ + γĊ| / (1 + |C̈|) (the gradient-flow law carried over)", res_bad, tol,
                           res_bad <= tol)
    return cs.Evidence(symbolic, numeric, negative,
                       notes=f"residual {res:.2e}; control {res_bad:.2e}; control counterexample "
                             f"{control[0].counterexample:.3g}")
