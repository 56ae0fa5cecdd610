"""Nesterov's scheme with momentum (k−1)/(k+2) tends to Ẍ + (3/t)Ẋ + ∇L = 0, at order 1 in √s.

Statement (Su, Boyd & Candès, NeurIPS 2014 / JMLR 2016, Theorem 2; docs/mathematics.md §10.2).  The iterates
x_k = y_{k−1} − s∇L(y_{k−1}), y_k = x_k + ((k−1)/(k+2))(x_k − x_{k−1}) (y_0 = x_0) satisfy, for fixed t_end,
max_{k ≤ t_end/√s} ‖x_k − X(k√s)‖ → 0 as s → 0, where X solves Ẍ + (3/t)Ẋ + ∇L(X) = 0, X(0) = x_0,
Ẋ(0) = 0.  Here on a deep linear network the distance at t = 1 is O(√s) (fitted order 1 in h = √s).

Pipeline: rules.NesterovConvex states the scheme with a velocity slot V and a time slot T = kh (entrywise),
so β = (T − h)/(T + 2h) and the rule is autonomous; its increment field at h = 0 is the flow Ẇ = V,
V̇ = −3V ⊘ T − ∇L, Ṫ = 1 — the Su–Boyd–Candès ODE, derived, not typed.  The generated step map equals a
hand-written loop of the scheme (tests/symbolic/test_memory_rules.py).

Numeric check (float64: the distances measured are ≥ 1e-3): chain 2-3-2, non-white Σx; steps by the
generated step map (ensemble.iterate) for h ∈ {0.04, 0.02, 0.01, 0.005}, n = 1/h steps; the ODE by DOP853
(rtol 1e-12) from t₀ = 1e-4 with the series start X(t₀) = x₀ − (t₀²/8)∇L(x₀), Ẋ(t₀) = −(t₀/4)∇L(x₀)
(error O(t₀³)).  Residual: |fitted order of ‖x_n − X(1)‖ − 1|, tolerance 0.1.

Negative control: the constant damping that agrees with 3/t at the compared time, Ẍ + 3Ẋ + ∇L = 0 (heavy
ball's limit, rules.heavy_ball(3)), claimed as the limit at order 1.  It is the nearest plausible wrong
claim: the constant-momentum Nesterov scheme does have a constant-damping limit (§10.2), and 3/t equals 3 at
t = 1; but the scheme's damping is large early, so the distance does not shrink with h (fitted order ≈ 0)
and the same check rejects it.
"""

import numpy as np
from curvsym.checks import CheckResult
from curvsym.problems import random_instance
from curvsym.verify import seeds

import curvsym as cs
from curvsym import ensemble
from curvsym.symbolic.rules.memory import NesterovConvex, initial_state
from curvsym.verify.step_size import fitted_order

HS = [0.04, 0.02, 0.01, 0.005]
T0 = 1e-4


@cs.theorem("Nesterov's (k−1)/(k+2) scheme tends to Ẍ + (3/t)Ẋ + ∇L = 0", __doc__.split("\n\n")[1], digits=20,
            cost=3, section="§10.2")
def nesterov_limit(digits: int) -> cs.Evidence:
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=seeds.pick(1), scale=0.8)
    data = inst.data()
    rule = NesterovConvex()
    step = cs.generate_flow(rule.step_flow(m))
    flow = cs.generate_flow(rule.flow(m))
    grad = cs.generate_flow(cs.gradient_flow(m))(inst.weights, *data)  # −∇L(x₀)
    start = ([w + T0 ** 2 / 8 * g for w, g in zip(inst.weights, grad)] + [T0 / 4 * g for g in grad]
             + [np.full(w.shape, T0) for w in inst.weights])
    ode = cs.integrate(flow, start, data, [0, 1 - T0], rtol=1e-12, atol=1e-13).states[-1][:2]
    hb = cs.rules.heavy_ball(3)
    const = cs.integrate(cs.generate_flow(hb.flow(m)), initial_state(hb, m, inst.weights), data, [0, 1],
                         rtol=1e-12, atol=1e-13).states[-1][:2]
    y0 = initial_state(rule, m, inst.weights)
    dist, dist_bad = [], []
    for h in HS:
        n = round(1 / h)
        it = ensemble.iterate(step, [y[None] for y in y0], data, h, n, record_every=n, params={"eta": h})
        x = [a[0] for a in it.final[:2]]
        dist.append(float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(x, ode)))))
        dist_bad.append(float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(x, const)))))
    order, order_bad = fitted_order(HS, dist).slope, fitted_order(HS, dist_bad).slope
    numeric = CheckResult("|fitted order in √s of ‖x_n − X(1)‖ − 1|, X: Ẍ + (3/t)Ẋ + ∇L = 0", abs(order - 1), 0.1,
                          abs(order - 1) <= 0.1, {"order": order})
    negative = CheckResult("|order − 1| for the constant damping Ẍ + 3Ẋ + ∇L = 0", abs(order_bad - 1), 0.1,
                           abs(order_bad - 1) <= 0.1, {"order": order_bad})
    notes = (f"distances {', '.join(f'{d:.3e}' for d in dist)} (order {order:.4f}); constant damping "
             f"{', '.join(f'{d:.3e}' for d in dist_bad)} (order {order_bad:.4f})")
    return cs.Evidence("n/a (the ODE is F₀ of the derived increment field)", numeric, negative, notes=notes)
