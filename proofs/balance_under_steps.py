"""One GD step changes the balance C_i by exactly η²(∇_{i+1}ᵀ∇_{i+1} − ∇_i∇_iᵀ).

Statement (docs/mathematics.md §5.6).  With the sign convention of the flow theorem, C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ, one step
W ↦ W + ηV of any rule changes it by

    C_i(W + ηV) − C_i(W) = η DC_i[V] + η² (V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)        (exact: C_i is quadratic),

and DC_i[V] ≡ 0 for row-space rules — the reason their flows conserve C_i.  So for GD (V = −∇L)

    C_i(k+1) − C_i(k) = η² (∇_{i+1}ᵀ∇_{i+1} − ∇_i∇_iᵀ)(θ_k),

and the same with V for the min-norm natural gradient (any q).  The flow invariant therefore
survives discretisation only to first order: O(η²) per step, O(η) over a fixed time (the drift
over [0, 1] has fitted order 1 in η, reported).  For K-FAC the η² form is false (DC_i[V] ≠ 0: its
flow does not conserve C_i either); its own invariant survives exactly (kfac_step_invariant.py).

Symbolic proof: the difference of both sides expands to 0 in the free algebra with involution for
GD on chains of depth 2…6 (non-white Σx) and a linear ResNet of depth 3, and for the min-norm
natural gradient with q = 1 and q = ½ (𝒦^{+q}[·] opaque) on 2-3-2 and 3-4-2-3; for K-FAC it is
refuted by a counterexample (reported as the symbolic control).

Numeric check: chain 3-4-2-3, non-white Σx, GD with η = 0.05 for 40 steps at `digits` digits
(curvsym.integrate.iteration.iterate_precise); at every step the measured C_i(k+1) − C_i(k) against
the generated law η²(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)(θ_k), and the same for 10 steps of the min-norm
natural gradient (strict, 3-3-3).  Residual: max |difference| / max |law|; tolerance 10^−(digits−10).

Negative control: the flow's law carried over to steps, C_i(k+1) − C_i(k) = 0 (“GD conserves
balance like GF”).  It is the nearest plausible wrong claim: it is the statement of the flow theorem
itself, and it is what one assumes when treating a trained network as balanced; the same check
rejects it with residual 1 (the measured change is all η² law).
"""

import mpmath

import curvsym as cs
from curvsym.checks import CheckResult
from curvsym.integrate.iteration import iterate_precise
from curvsym.problems import conditioned_instance, random_instance
from curvsym.symbolic.step_maps import ETA, balance_step_law
from curvsym.verify.identities import prove_step_change
from curvsym.verify.checks import balance_function
from curvsym.verify.step_size import distance, fitted_order
from curvsym.verify import seeds


def _changes(flow, inst, eta, n, digits):
    """Per step: (measured ΔC_i, the law evaluated at the iterate) as mpf object arrays."""
    m = flow.model
    rhs = cs.generate_flow(flow, "mpmath")
    traj = iterate_precise(rhs, inst.weights, inst.data(), eta, list(range(n + 1)), dps=digits, throw=True)
    C = balance_function(m, "mpmath")
    law = cs.generate_expressions(m, "balance_step_law", balance_step_law(flow), (ETA,), "mpmath")
    with mpmath.workdps(digits + 10):
        data = C.validate(traj.states[0], cs.to_mp(inst.data(), digits + 10))
        e = traj.info["eta"]
        Cs = [C.raw(*s, *data) for s in traj.states]
        Ls = [law.raw(*s, *data, eta=e) for s in traj.states[:-1]]
        diffs, laws, meas = [], [], []
        for k in range(n):
            for i in range(len(Cs[0])):
                d = Cs[k + 1][i] - Cs[k][i]
                meas.append(max(abs(v) for v in d.flat))
                laws.append(max(abs(v) for v in Ls[k][i].flat))
                diffs.append(max(abs(v) for v in (d - Ls[k][i]).flat))
        return max(diffs), max(laws), max(meas)


@cs.theorem("one GD step changes balance by η²(∇ᵀ∇ − ∇∇ᵀ)", __doc__.split("\n\n")[1], digits=50, cost=2, section="§5.6")
def balance_under_steps(digits: int) -> cs.Evidence:
    gd_models = [cs.model(cs.deep_chain(N, 2)) for N in range(2, 7)] + [cs.model(cs.resnet(2, 3))]
    proved = all(p.holds for m in gd_models for p in prove_step_change(cs.gradient_flow(m)))
    ngd_models = [cs.model(cs.chain([2, 3, 2])), cs.model(cs.chain([3, 4, 2, 3]))]
    for q in (1, cs.derive.sp.Rational(1, 2)):
        rule = cs.rules.natural_gradient(q=q)
        proved = proved and all(p.holds for m in ngd_models for p in prove_step_change(rule.flow(m)))
    kfac = prove_step_change(cs.rules.kfac().flow(cs.model(cs.chain([2, 2, 2]))))
    kfac_refuted = all(p.status == "refuted" for p in kfac)
    symbolic = ("proved (GD N=2…6 and ResNet; NGD q=1, ½)" if proved else "refuted") + (
        "; K-FAC refuted" if kfac_refuted else "; K-FAC NOT REFUTED")
    if not kfac_refuted:
        symbolic = "refuted: the K-FAC control was proved"

    net = cs.chain([3, 4, 2, 3])
    gd = cs.gradient_flow(cs.model(net))
    d1, l1, m1 = _changes(gd, random_instance(net, seed=seeds.pick(7), scale=0.8), 0.05, 40, digits)
    sq = cs.chain([3, 3, 3])
    ngd = cs.rules.natural_gradient(strict=True).flow(cs.model(sq))
    d2, l2, m2 = _changes(ngd, conditioned_instance(sq, seed=seeds.pick(4)), 0.05, 10, digits)
    residual = float(max(d1 / l1, d2 / l2))
    tol = 10.0 ** (-(digits - 10))
    numeric = CheckResult("max |ΔC_i − η²(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)| / max |law| (GD and NGD iterates)", residual, tol,
                          residual <= tol, {"gd": float(d1 / l1), "ngd": float(d2 / l2)})
    zero = float(max(m1 / l1, m2 / l2))
    negative = CheckResult("the flow law carried over: ΔC_i = 0", zero, tol, zero <= tol)

    # which order survives: the drift of C over [0, 1] against η
    inst = random_instance(net, seed=seeds.pick(7), scale=0.8)
    rhs = cs.generate_flow(gd)
    C = balance_function(gd.model, "numpy")
    drifts, etas = [], [0.04, 0.02, 0.01]
    for e in etas:
        tr = cs.ensemble.iterate(rhs, [w[None] for w in inst.weights], inst.data(), e, round(1 / e),
                                 record_every=round(1 / e))
        first, last = ([w[0] for w in s] for s in (tr.states[0], tr.states[-1]))
        drifts.append(distance(C(last, *inst.data()), C(first, *inst.data())))
    order = fitted_order(etas, drifts).slope
    notes = (f"GD: max |ΔC| = {float(m1):.3e} per step at η = 0.05, law matched to {float(d1 / l1):.1e}; NGD to "
             f"{float(d2 / l2):.1e}; drift of C over t ∈ [0, 1]: order {order:.3f} in η "
             f"({', '.join(f'{x:.2e}' for x in drifts)} for η = {etas}); K-FAC counterexample size "
             f"{kfac[0].counterexample:.2f}")
    return cs.Evidence(symbolic, numeric, negative, notes=notes)
