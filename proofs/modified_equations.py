"""GD follows its modified equations: GF at order 1, f + ηf₁ at order 2, f + ηf₁ + η²f₂ at order 3.

Statement (backward error analysis; Hairer, Lubich & Wanner, Geometric Numerical Integration §IX.1;
docs/mathematics.md §5.5).  The step map θ ↦ θ + ηf(θ) of a rule with flow θ̇ = f(θ) agrees at
t = kη, over a fixed time, with the flow of

    f̃_r = f + ηf₁ + … + η^r f_r  to O(η^{r+1}),   f₁ = −½ f′f,   f₂ = ⅓ f′f′f + 1⁄12 f″(f, f).

For GD (f = −∇L) f₁ = −¼ ∇‖∇L‖²: GD follows gradient flow on L + (η/4)‖∇L‖², the implicit gradient
regulariser of Barrett & Dherin (ICLR 2021).

Symbolic proof: f₁, f′f′f and f″(f, f) are built as directional derivatives of the derived
velocities (curvsym.symbolic.step_maps); f₁ + ¼∇‖∇L‖² expands to exactly 0 in the free algebra,
∇‖∇L‖² being differentiated word by word from the trace polynomial Σ_e tr(∇_e∇_eᵀ), for chains of
depth 2…5 (non-white Σx) and a linear ResNet of depth 2.  The coefficient −½ in place of −¼ is
refuted (a numeric counterexample at the model's widths).

Numeric check: chain 2-3-2, non-white Σx; GD iterates at `digits` digits, and the flows of f̃₀ = f,
f̃₁, f̃₂ by the Taylor method at `digits` digits (η a parameter of the generated code), compared
at t = nη = 0.6/λ for η = c/λ, c ∈ {0.06, 0.03, 0.015}, λ the sharpness at θ₀ (the expansion is in ηλ; the
shipped instance has λ = 1.48: t ≈ 0.4, η ≈ 0.04, 0.02, 0.01).  Residual: the largest |fitted order − (r + 1)|
over r = 0, 1, 2 (tolerance 0.1).

Negative control: the first-order modified equation with the opposite sign, f + (η/2)f′f, claimed
at order 2.  It is the nearest plausible wrong claim: it is the modified equation of *implicit*
Euler, and the sign convention of the η f₁ term is exactly what is easy to get wrong; its flow
agrees with GD only at order 1, and the same check (|order − 2| ≤ 0.1) rejects it.
"""

import sympy as sp

import curvsym as cs
from curvsym.checks import CheckResult
from curvsym.problems import random_instance
from curvsym.symbolic.derive import Flow
from curvsym.symbolic.step_maps import ETA, modified_equation
from curvsym.verify.identities import prove_implicit_regulariser
from curvsym.verify.sharpness import sharpness
from curvsym.verify.step_size import modified_equation_orders
from curvsym.verify import seeds

ETAS = [0.04, 0.02, 0.01]     # the rules' theorem (t = 0.04: far below 1/λ)
UNITS = [0.06, 0.03, 0.015]   # GD's theorem: ηλ (see natural_units)
TOL = "1e-18"  # the rules' flows by GBS: a local tolerance far below the smallest distance measured (≈ 1e-10)


def natural_units(m, inst) -> tuple[list[float], float, float]:
    """Step sizes and horizon in units of the instance's curvature λ = sharpness(θ₀): η = c/λ for
    c ∈ {0.06, 0.03, 0.015} and t = 0.6/λ (10, 20, 40 steps; the shipped instance, λ = 1.48, gets η ≈ 0.04, 0.02,
    0.01 and t ≈ 0.4).  The expansion is in ηλ: fixed η on a drawn instance with λ = 9 (fresh seed 467721395) is
    pre-asymptotic (orders 1.84, 2.66 for 2, 3)."""
    lam = max(float(sharpness(m, inst.weights, inst.data())), 0.1)
    return [c / lam for c in UNITS], 0.6 / lam, lam


def _implicit_euler_flow(flow):
    """f + (η/2) f′f: the sign-flipped first-order modified field (implicit Euler's)."""
    me = modified_equation(flow, 1)
    flipped = tuple(sp.MatAdd(f, sp.MatMul(-ETA, c, evaluate=False), evaluate=False)
                    for f, c in zip(flow.velocities, me.corrections[0]))
    return Flow(flow.model, flipped, "implicit-Euler modified equation", (ETA,))


@cs.theorem("GD follows its modified equations at orders 1, 2, 3", __doc__.split("\n\n")[1], digits=50, cost=2.5, section="§5.5")
def modified_equations(digits: int) -> cs.Evidence:
    models = [cs.model(cs.chain(w)) for w in ([2, 3, 2], [2, 3, 3, 2], [2, 2, 3, 2, 2], [3, 2, 2, 2, 2, 3])]
    models.append(cs.model(cs.resnet(2, 2)))
    proved = all(p.holds for m in models for p in prove_implicit_regulariser(m))
    wrong = prove_implicit_regulariser(models[0], sp.Rational(-1, 2))
    refuted = all(p.status == "refuted" for p in wrong)
    symbolic = ("proved f₁ = −¼∇‖∇L‖² (N = 2…5, ResNet N = 2)" if proved else "refuted") + (
        "; −½ refuted" if refuted else "; CONTROL −½ NOT REFUTED")
    if not refuted:
        symbolic = "refuted: the coefficient −½ was not refuted"

    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=seeds.pick(1), scale=0.8)
    flow = cs.gradient_flow(m)
    etas, t_end, lam = natural_units(m, inst)
    res = modified_equation_orders(flow, inst.weights, inst.data(), etas, t_end, dps=digits)
    dev = max(abs(res.orders[r].slope - (r + 1)) for r in (0, 1, 2))
    numeric = CheckResult("max_r |fitted order of ‖θ_n − θ̃_r(nη)‖ − (r + 1)|, r = 0, 1, 2", dev, 0.1, dev <= 0.1,
                          {f"order_{r}": res.orders[r].slope for r in (0, 1, 2)} | {"method": res.methods[2]})
    bad = modified_equation_orders(flow, inst.weights, inst.data(), etas, t_end, orders=(1,), dps=digits,
                                   modified={1: _implicit_euler_flow(flow)})
    dev_bad = abs(bad.orders[1].slope - 2)
    negative = CheckResult("|order − 2| for f + (η/2)f′f (implicit Euler's sign)", dev_bad, 0.1, dev_bad <= 0.1,
                           {"order": bad.orders[1].slope})
    notes = ("fitted orders " + ", ".join(f"f̃_{r}: {res.orders[r].slope:.4f}" for r in (0, 1, 2))
             + f"; implicit-Euler sign: {bad.orders[1].slope:.4f}; λ(θ₀) = {lam:.3g}, η = "
             + ", ".join(f"{e:.3g}" for e in etas) + f", t = {t_end:.3g}; distances at the smallest η: "
             + ", ".join(f"{res.errors[r][-1]:.2e}" for r in (0, 1, 2)))
    return cs.Evidence(symbolic, numeric, negative, notes=notes)


RULES_DOC = """Every rule's steps follow its own modified equations (K-FAC, natural gradient, Bernacchia, q = ½).

Statement: the explicit-Euler modified equation above holds for the step map of any rule whose velocity
has symbolic derivatives: f′f, f′f′f and f″(f, f) come from the time derivatives of its nodes — the
inverse −PẊP and the operator solve 𝒦⁻¹(Ṙ − 𝒦̇Y) for q = 1 (strict inverses), and for the fractional
block rule (q = ½) the Fréchet derivative of the PSD power (Daleckii–Krein node PsdPowerDerivative),
which differentiates again into itself.  Numeric check: chain 2-2-2, non-white Σx, orthogonal start;
K-FAC, min-norm NGD (strict: 𝒦 is invertible here), Bernacchia et al. and the q = ½ block rule; iterates
and the flows of f̃₀, f̃₁, f̃₂ (GBS extrapolation, their code is not polynomial; local tolerance 1e-18) at
min(digits, 20) digits, at t = 0.04 for η ∈ {0.04, 0.02, 0.01}; residual max over rules and r of |fitted order − (r + 1)|
(tolerance 0.1).  Negative control: as for GD, implicit Euler's sign f + (η/2)f′f claimed at order 2, for K-FAC.
"""


@cs.theorem("curvature-corrected rules follow their modified equations", RULES_DOC.split("\n\n")[1], digits=20, cost=6, section="§5.5")
def modified_equations_of_rules(digits: int) -> cs.Evidence:
    from curvsym.problems import conditioned_instance
    net = cs.chain([2, 2, 2])
    m = cs.model(net)
    inst = conditioned_instance(net, seed=seeds.pick(4))
    dps = min(digits, 20)
    rules = [cs.rules.kfac(), cs.rules.natural_gradient(strict=True), cs.rules.bernacchia(),
             cs.rules.kfac(q=sp.Rational(1, 2))]
    orders, dev = {}, 0.0
    for rule in rules:
        res = modified_equation_orders(rule.flow(m), inst.weights, inst.data(), ETAS, 0.04, dps=dps, tol=TOL)
        orders[rule.name] = tuple(round(res.orders[r].slope, 4) for r in (0, 1, 2))
        dev = max(dev, max(abs(res.orders[r].slope - (r + 1)) for r in (0, 1, 2)))
    numeric = CheckResult("max over rules and r of |fitted order − (r + 1)|", dev, 0.1, dev <= 0.1,
                          {k: str(v) for k, v in orders.items()})
    kfac = rules[0].flow(m)
    bad = modified_equation_orders(kfac, inst.weights, inst.data(), ETAS, 0.04, orders=(1,), dps=dps, tol=TOL,
                                   modified={1: _implicit_euler_flow(kfac)})
    dev_bad = abs(bad.orders[1].slope - 2)
    negative = CheckResult("|order − 2| for K-FAC's f + (η/2)f′f", dev_bad, 0.1, dev_bad <= 0.1,
                           {"order": bad.orders[1].slope})
    notes = "; ".join(f"{k}: {v}" for k, v in orders.items()) + f"; implicit-Euler sign: {bad.orders[1].slope:.4f}"
    return cs.Evidence("n/a (derivatives by dispatch on the nodes)", numeric, negative, notes=notes)
