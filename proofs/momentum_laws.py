"""What heavy ball conserves on deep linear nets: e^{γt}A_i (A_i the skew momentum map), and nothing else.

Statement (docs/mathematics.md §10.5; cf. Marcotte, Gribonval & Peyré, "Keep the momentum", 2024).  Along the
heavy-ball flow Ẇ_i = V_i, V̇_i = −γV_i − ∇_iL of a deep linear chain (any widths, data Σx ≻ 0, T), the skew
part A_i = M_i − M_iᵀ of the momentum map M_i = V_iW_iᵀ − W_{i+1}ᵀV_{i+1} (n_i × n_i, i = 1 … N − 1) obeys

    Ȧ_i = −γA_i,   so   e^{γt}A_i(t) = A_i(0):

K = Σ_i n_i(n_i − 1)/2 time-dependent laws.  The data-independent, time-independent laws are then exactly the
functions of the projective class [A_1 : … : A_{N−1}]: K − 1 independent ones for γ > 0 (ratios of entries,
whose common factor e^{−γt} cancels), and K for γ = 0 (the entries themselves, Noether's charges).  On
two-layer ReLU nets heavy ball has none, for γ > 0 and for γ = 0.

Symbolic proof.  (a) Ȧ_i + γA_i, built by differentiating A_i along the derived augmented flow, expands to 0
in the free algebra with symbolic γ for chains of depth 2 … 5 (non-white Σx): the force terms cancel because
∇_iL W_iᵀ = W_{i+1}ᵀ∇_{i+1}L (the row-space identity of gradient flow's balance), and the kinetic terms
V_iV_iᵀ − V_{i+1}ᵀV_{i+1} are symmetric, so they leave the skew part.  (b) The count: ``curvsym.laws``
certifies at random points (exact arithmetic mod p) that the Lie algebra of the flow has corank K − 1 (γ = 1)
and K (γ = 0) on chains 3-4-2 and 2-2-2-2, and finds all K laws at γ = 0; at γ = 1 the K − 1 ratios are laws
by (a) and independent because the K entries of (A_1, …, A_{N−1}) have a Jacobian of rank K at a random
rational point (exact), so the certified maximum K − 1 is attained.  Two-layer ReLU (2-3-1, one example, its
activation region): corank 0 for γ ∈ {0, 1}.

Numeric check: chain 3-4-2-3, non-white Σx, a fresh instance and a fresh γ ∈ {0.1, …, 3.9} per seed,
V(0) = 0.3·random; the augmented flow by the Taylor method at ``digits`` digits; residual
max_{t ∈ {0.5, 1, 2}} max_i |e^{γt}A_i(t) − A_i(0)| / (1 + max|A_i(0)|), tolerance 10^−(digits−10).

Negative control: the undamped law carried over — A_i(t) = A_i(0), which is Noether's conservation law of the
γ = 0 flow (and the count's γ = 0 answer) — claimed for the damped flow; symbolically refuted (a counterexample)
and rejected by the same numeric check.  It is the nearest plausible wrong claim: it is exactly right at
γ = 0, the symmetry that produces it is still there at γ > 0, and only the friction (a factor e^{−γt}) breaks it.
"""

import mpmath
import numpy as np
import sympy as sp

import curvsym as cs
from curvsym.checks import CheckResult
from curvsym.problems import random_instance
from curvsym.symbolic.memory_limits import angular_momentum
from curvsym.symbolic.nonlinear import data_model
from curvsym.symbolic.rules.memory import heavy_ball, initial_state
from curvsym.verify import seeds
from curvsym.verify.memory_limit_checks import prove_angular_momentum

TIMES = ("0.5", "1", "2")


def skew_count(widths) -> int:
    return sum(n * (n - 1) // 2 for n in widths[1:-1])


def jacobian_rank(widths, rng: np.random.Generator) -> int:
    """Exact rank of ∂(entries of A_1 … A_{N−1})/∂(W, V) at a random rational point."""
    m = cs.model(cs.chain(widths))
    sm = heavy_ball(1).flow(m).model
    n = len(m.weights)
    entries = [A[a, b] for A in angular_momentum(sm, n) for a in range(A.shape[0]) for b in range(a + 1, A.shape[1])]
    entries = [sp.expand(e.doit()) if hasattr(e, "doit") else e for e in entries]
    variables = [w[i, j] for w in sm.weights for i in range(w.shape[0]) for j in range(w.shape[1])]
    J = sp.Matrix([[sp.diff(e, v) for v in variables] for e in entries])
    point = {v: sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 7))) for v in variables}
    return J.subs(point).rank()


def counts(rng: np.random.Generator) -> tuple[bool, str]:
    ok, notes = True, []
    for widths in ([3, 4, 2], [2, 2, 2, 2]):
        K = skew_count(widths)
        m = cs.model(cs.chain(widths))
        damped = cs.laws(heavy_ball(1).flow(m), degree=2, confirm=False, seed=seeds.pick(0, salt=len(widths)))
        free = cs.laws(heavy_ball(0).flow(m), degree=2, confirm=False, seed=seeds.pick(1, salt=len(widths)))
        rank = jacobian_rank(widths, rng)
        ok &= damped.maximum == K - 1 and rank == K and free.complete and free.found == K
        notes.append(f"{'-'.join(map(str, widths))}: K = {K}, γ = 1 corank {damped.maximum}, Jacobian rank {rank}, "
                     f"γ = 0 found {free.found}/{free.maximum}")
    relu = data_model(cs.chain([2, 3, 1], activation="relu"), examples=1)
    for g in (0, 1):
        rep = cs.laws(heavy_ball(g).flow(relu), degree=2, confirm=False, seed=seeds.pick(2, salt=g))
        ok &= rep.complete and rep.maximum == 0
        notes.append(f"ReLU 2-3-1 γ = {g}: corank {rep.maximum}")
    return ok, "; ".join(notes)


def _drift(traj, fn, data, gamma, damped: bool) -> float:
    A0 = fn(traj.states[0], *data)
    worst = mpmath.mpf(0)
    for t, state in zip(traj.t[1:], traj.states[1:]):
        factor = mpmath.exp(gamma * t) if damped else 1
        for a, b in zip(fn(state, *data), A0):
            worst = max(worst, np.max(np.abs(factor * a - b)) / (1 + np.max(np.abs(b))))
    return float(worst)


@cs.theorem("heavy ball on linear nets conserves e^{γt}(M_i − M_iᵀ); exactly K − 1 laws for γ > 0",
            __doc__.split("\n\n")[1], digits=50, cost=12, section="§10.5")
def momentum_laws(digits: int) -> cs.Evidence:
    proofs = [p for N in range(2, 6) for p in prove_angular_momentum(cs.model(cs.deep_chain(N, 2)))]
    control = prove_angular_momentum(cs.model(cs.chain([2, 3, 2])), damped=False)
    rng = seeds.rng(13)
    counted, count_notes = counts(rng)
    if not all(p.holds for p in proofs):
        symbolic = "refuted: Ȧ_i + γA_i does not expand to 0"
    elif not all(p.status == "refuted" for p in control):
        symbolic = "refuted: the control Ȧ_i = 0 was not refuted"
    elif not counted:
        symbolic = "refuted: a law count differs from K − 1 / K / 0"
    else:
        symbolic = "proved (N = 2…5, symbolic γ; counts certified); Ȧ_i = 0 refuted"

    net = cs.chain([3, 4, 2, 3])
    m = cs.model(net)
    inst = random_instance(net, seed=seeds.pick(7), scale=0.8)
    gamma = sp.Rational(int(rng.integers(1, 40)), 10)
    rule = heavy_ball(gamma)
    flow = rule.flow(m)
    y0 = initial_state(rule, m, inst.weights, V=[0.3 * rng.standard_normal(w.shape) for w in inst.weights])
    traj = cs.integrate(cs.generate_flow(flow, "mpmath"), y0, inst.data(), [0, *TIMES], dps=digits)
    fn = cs.generate_expressions(flow.model, "skew_momentum", list(angular_momentum(flow.model, 3)), backend="mpmath")
    data = cs.to_mp(inst.data(), digits + 10)
    with mpmath.workdps(digits + 10):
        g = mpmath.mpf(gamma.p) / gamma.q
        res = _drift(traj, fn, data, g, True)
        res_bad = _drift(traj, fn, data, g, False)
    tol = 10.0 ** -(digits - 10)
    numeric = CheckResult(f"max |e^{{γt}}A_i(t) − A_i(0)| / (1 + |A_i(0)|), chain 3-4-2-3, γ = {gamma}", res, tol,
                          res <= tol)
    negative = CheckResult("max |A_i(t) − A_i(0)| / (1 + |A_i(0)|) (the undamped Noether law carried over)",
                           res_bad, tol, res_bad <= tol)
    return cs.Evidence(symbolic, numeric, negative,
                       notes=f"{count_notes}; drift {res:.1e}, control {res_bad:.2e} (γ = {gamma}); "
                             f"control counterexample {control[0].counterexample:.3g}")
