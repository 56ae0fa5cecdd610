"""Glass curvature is real on a ReLU MLP on digits: the Hessian misses it; the glass model bounds it.

Statement (Duersch et al. 2024; docs/mathematics.md §4.7).  A ReLU MLP 64-32-10 with biases,
softmax cross-entropy on the 1437 training digits, He initialisation.  Perturb the parameters μ
by δ = sz, z Rademacher (each coordinate ±1), and write the change beyond first order as
Δ₂ = L(μ + δ) − L(μ) − gᵀδ and the Hessian model's residual as R = Δ₂ − ½δᵀHδ.  Here H is the
Hessian of the smooth piece containing μ.  (1, exact: every initialisation) The glass + Hessian
model bounds the measured change: E|Δ₂| ≤ ½s²E|zᵀHz| + c s^{3/2} Σ_i √ρ̂_i for s = 10⁻⁵ … 10⁻².
This is Alice's per-coordinate glass term, with c = √(2/(3π)) and ρ̂_i the three-gradient
estimate at σ = 5·10⁻³.  It holds at initialisation and after 300 full-batch Adam steps.

Numeric check: 128 directions, each taken with both signs, at s ∈ {10⁻⁵, 3·10⁻⁵, …, 10⁻²}, one
initialisation (shipped: seed 0; ``--seed S`` redraws it and the directions).  Everything is
computed with curvsym's generated code: the gradient, H·z as the symbolic directional derivative
of the gradient, and the network output, from which the loss follows.  Residual: the largest
z-score of E|Δ₂| above the glass + Hessian bound, counted 0 when it is below (tolerance 3).

What the data also say (notes; not claimed).
* After full-batch training the residual has one sign, R > 0 in every direction once a few
  boundaries are crossed.  Its exponent is about 1.7–1.8, and the walk underestimates it 3–6×.
  Training parks pre-activations at their kinks, so the kinks add curvature; they do not kick at
  random.
* After 10 epochs of minibatch Adam (notebooks/alice_ablation.ipynb) the glass is weak.  There
  E|R| is about 10 % of the Hessian term, with exponent 2.0, ρ̂ grows with σ, and the
  Hessian-only bound is barely rejected (largest z = 3.2).
* The per-coordinate bound is loose, about 25× at initialisation, because it adds the
  coordinates' walks coherently.

Negative control: the Hessian-only model as the same bound, E|Δ₂| ≤ ½s²E|zᵀHz|, i.e. ρ = 0.  It
must be rejected at both points: E|Δ₂| is more than 3 standard errors above it at some s.

Why this control is the nearest.  It is the paper's own alternative, Alice's "hessian" variant:
the same model and bound with the glass term removed.  The paper's claim is exactly that this
removal fails at small |δ|.  Any other control (a wrong constant c, say) would leave the
question whether the glass exists untouched.
"""

import numpy as np
from threadpoolctl import threadpool_limits

import curvsym as cs
from curvsym.checks import CheckResult
from curvsym.integrate import optimizers as op
from curvsym.papers import duersch2024_digits as dd
from curvsym.verify import seeds

SIZES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
WINDOW = (1e-4, 3e-4, 1e-3)        # the glass regime at initialisation: ≥ 8 kinks crossed, cubic terms negligible
N_DIRECTIONS = 128


N_INITS = 24                       # initialisations per run of the statistical claim
WALK_FACTOR, EXPONENT_BAND, MEAN_BAND, SHARE = 2.0, 0.35, 0.2, 0.75

WALK_DOC = """The glass residual scales like a random walk at initialisation, for most initialisations.

Statement (Duersch et al. 2024; docs/mathematics.md §4.7; statistical).  Same network, data and
directions as the bound above.  Over He initialisations, the fitted exponent of E|R| on
s ∈ {10⁻⁴, 3·10⁻⁴, 10⁻³} (64 directions with both signs) is distributed about 3/2: (a) its mean
over initialisations lies in 1.5 ± 0.2, and (b) for at least 75 % of initialisations the exponent
lies in 1.5 ± 0.35 and E|R| is within a factor 2 of the random walk c√ρ̂_dir s^{3/2} at each size,
ρ̂_dir = E 2(zᵀdg)²/σ the density along z.  Each run tests (a) and (b) on 24 initialisations
(shipped: seeds 0–23; ``--seed S`` redraws all 24 and the directions).  Claimed rate: the test
passes on at least 90 % of fresh seeds (measured on seeds 0–23: mean 1.60, per-initialisation
rate 21/24 ≈ 0.875, so P(≥ 18 of 24) ≈ 0.97; the mean sits 3 standard errors inside its band).
The earlier form of this claim, "1.5 ± 0.2 and within 2× for every initialisation", is false:
seeds 2, 6, 8, 10, 11, 13, 20 and 22 break it (exponents 1.28–1.86).

Negative control: the same test centred on exponent 2 (the residual scales like s², the kinks act
as extra curvature): mean in 2 ± 0.2 and ≥ 75 % of initialisations in 2 ± 0.35 within the same
walk factor.  Why this control is the nearest.  It is the behaviour the same probe measures after
training (exponent 1.7–1.8, notes above) and what a smooth residual beyond the Hessian would
approach; it differs from the claim only in the exponent the glass model predicts.
"""


def probes():
    problem = dd.digits_problem((64, 32, 10), batch_size=64)
    W0 = problem.init([seeds.pick(0)])
    trained = op.optimize(op.Adam(1e-2), problem.full_field(), W0, 300, record_every=300).final
    direction_seed = seeds.pick(0, salt=1)
    main = {"initialisation": dd.glass_probe(problem, W0, SIZES, N_DIRECTIONS, sigmas=(1e-4, 1e-3),
                                             seed=direction_seed),
            "300 full-batch Adam steps": dd.glass_probe(problem, trained, SIZES, N_DIRECTIONS, sigmas=(1e-4, 1e-3),
                                                        seed=direction_seed)}
    return problem, main


@cs.theorem("glass curvature on a ReLU MLP: the glass model bounds the loss change, the Hessian does not",
            __doc__.split("\n\n")[1], digits=16, cost=4.0, section="§4.7")
def glass_curvature(digits: int) -> cs.Evidence:
    with threadpool_limits(1, user_api="blas"):   # small products: one BLAS thread is faster, and files run in parallel
        problem, main = probes()
    init, trained = main["initialisation"], main["300 full-batch Adam steps"]
    z_glass = {name: float(np.max(p.z_glass())) for name, p in main.items()}
    z_hess = {name: float(np.max(p.z_hessian())) for name, p in main.items()}
    res = max(0.0, *z_glass.values())
    numeric = CheckResult("z-score of E|Δ₂| above ½s²E|zᵀHz| + c s^{3/2} Σ√ρ̂_i (max over s and points; 0 if below)",
                          res, 3.0, res <= 3.0,
                          {"z above glass bound (max over s)": {k: round(v, 1) for k, v in z_glass.items()}})
    neg = min(z_hess.values())
    negative = CheckResult("the same bound without glass, E|Δ₂| ≤ ½s²E|zᵀHz| (least rejected point)", neg, 3.0,
                           neg <= 3.0, {"max z above the Hessian-only bound": {k: round(v, 1) for k, v in z_hess.items()}})
    window = (init.sizes >= WINDOW[0] * 0.999) & (init.sizes <= WINDOW[-1] * 1.001)
    t_slope, t_se = trained.exponent(*WINDOW[::2])
    idx = int(np.argmin(np.abs(init.sizes - 1e-4)))
    notes = (f"P = {problem.n_parameters}; init: loss {init.loss:.3f}, ρ̂_dir(σ) = "
             + ", ".join(f"{s:g}: {r:.3g}±{e:.1g}" for s, r, e in zip(init.sigmas, init.rho_dir, init.rho_dir_se))
             + f", {init.crossings[idx]:.0f} kinks crossed at s = 1e-4, bound/measured at 1e-4: "
             f"{(init.hessian + init.glass)[idx] / init.change[idx]:.0f}×, P(R > 0) = {np.mean(init.positive):.2f}; "
             f"trained: loss {trained.loss:.4f}, P(R > 0) = {np.mean(trained.positive[window]):.2f}, exponent "
             f"{t_slope:.2f}±{t_se:.2f}, E|R|/walk at 1e-4: {trained.residual[idx] / trained.walk[idx]:.1f}, "
             f"E|R|/Hessian term at 1e-4: {trained.residual[idx] / trained.hessian[idx]:.1f}")
    return cs.Evidence("n/a", numeric, negative, notes=notes)


def _walk_test(exponents, walks, centre):
    """(passed, mean, share): mean within MEAN_BAND of centre, and ≥ SHARE of the initialisations with the
    exponent within EXPONENT_BAND of centre and every walk factor within [1/WALK_FACTOR, WALK_FACTOR]."""
    mean = float(np.mean(exponents))
    good = [abs(m - centre) <= EXPONENT_BAND and bool(np.all((w >= 1 / WALK_FACTOR) & (w <= WALK_FACTOR)))
            for m, w in zip(exponents, walks)]
    share = float(np.mean(good))
    return abs(mean - centre) <= MEAN_BAND and share >= SHARE, mean, share


@cs.theorem("glass residual at initialisation: exponent about 3/2, within 2× of the walk (≥ 75 % of inits)",
            WALK_DOC.split("\n\n")[1], digits=16, cost=3.0, kind="statistical", rate=0.9, section="§4.7")
def glass_walk(digits: int) -> cs.Evidence:
    problem = dd.digits_problem((64, 32, 10), batch_size=64)
    exponents, walks, ses = [], [], []
    with threadpool_limits(1, user_api="blas"):
        for k in range(N_INITS):
            p = dd.glass_probe(problem, problem.init([seeds.pick(k)]), WINDOW, 64, sigmas=(),
                               seed=seeds.pick(k, salt=1))
            m, se = p.exponent(*WINDOW[::2])
            exponents.append(m)
            ses.append(se)
            walks.append(p.residual / p.walk)
    ok, mean, share = _walk_test(exponents, walks, 1.5)
    sem = float(np.std(exponents, ddof=1) / np.sqrt(len(exponents)))
    numeric = CheckResult("|mean exponent − 3/2| over initialisations (and share within 3/2 ± 0.35, walk ≤ 2×)",
                          abs(mean - 1.5), MEAN_BAND, ok,
                          {"mean exponent": round(mean, 3), "standard error of the mean": round(sem, 3),
                           "share of initialisations meeting (b)": round(share, 3),
                           "exponents": str([round(m, 2) for m in exponents]),
                           "walk factors (min, max)": str([(round(float(w.min()), 2), round(float(w.max()), 2))
                                                           for w in walks])})
    nok, _, nshare = _walk_test(exponents, walks, 2.0)
    negative = CheckResult("the same test centred on exponent 2 (kinks as curvature)", abs(mean - 2.0), MEAN_BAND,
                           nok, {"share within 2 ± 0.35": round(nshare, 3)})
    strict = sum(abs(m - 1.5) <= 0.2 and bool(np.all((w >= 0.5) & (w <= 2))) for m, w in zip(exponents, walks))
    notes = (f"{N_INITS} initialisations: mean exponent {mean:.3f} ± {sem:.3f}, range {min(exponents):.2f}–"
             f"{max(exponents):.2f}; share meeting (b) {share:.2f}; the old every-initialisation form "
             f"(1.5 ± 0.2, within 2×) holds for {strict}/{N_INITS}")
    return cs.Evidence("n/a", numeric, negative, notes=notes)
