"""Bernacchia et al.'s direction solves F d = ∇L exactly but is not the minimum-norm solution.

Statement.  For a deep linear network and any Σx ≻ 0, d_B = (1/N)·blockdiag(G_i⁺ ⊗ A_i⁺)∇L
satisfies F d_B = ∇L (F = JᵀJ the Fisher/Gauss–Newton matrix): it is an exact natural
gradient.  It differs from the min-norm d_N = F⁺∇L by a non-zero null-space
(rescaling-symmetry) component, so ‖d_B‖² = ‖d_N‖² + ‖d_B − d_N‖² > ‖d_N‖²
(Bernacchia, Lengyel & Hennequin 2018; MATH.md §2.3).

Numeric check (pointwise, mpmath at ``digits`` digits, dense 27 × 27 Fisher of a 3-3-3-3
chain and 18 × 18 of a 2-3-2 chain with pseudo-inverses): the residual is the larger of
‖F d_B − ∇L‖/‖∇L‖ and the Pythagoras defect |‖d_B‖² − ‖d_N‖² − ‖d_B − d_N‖²|/‖d_B‖²; the
claim also requires ‖d_B − d_N‖ > 10⁻³‖d_N‖.

Negative control: the K-FAC direction (without 1/N) does not solve F d = ∇L.

(Observed while writing this: at a balanced point, e.g. orthogonal layers, d_B = d_N —
the null-space component vanishes — so the check uses generic, unbalanced points.)
"""

import mpmath
import numpy as np

import curvsym as cs
from curvsym import fisher, rules
from curvsym.checks import CheckResult
from curvsym.problems import random_instance


def _norm(v):
    return mpmath.sqrt(mpmath.fsum(x * x for x in v))


@cs.theorem("Bernacchia NG solves F d = ∇L, not min-norm", __doc__.split("\n\n")[1], digits=50)
def bernacchia_exact(digits: int) -> cs.Evidence:
    worst, worst_neg, norms = 0, None, []
    gaps_ok = True
    with mpmath.workdps(digits + 10):
        cases = [(cs.chain([3, 3, 3, 3]), random_instance(cs.chain([3, 3, 3, 3]), seed=4, scale=1.2), True),
                 (cs.chain([2, 3, 2]), random_instance(cs.chain([2, 3, 2]), seed=4, scale=1.0), False)]
        for net, inst, strict in cases:
            m = cs.model(net)
            W, D = fisher.as_mp(inst.weights, inst.data(), digits + 10)
            F = fisher.fisher(m, W, D)
            g = fisher.dense_gradient(m, W, D)

            def direction(rule):
                return -fisher.flat(cs.generate_flow(rule.flow(m), "mpmath")(W, *D))

            dB = direction(rules.bernacchia(strict=strict))
            dN = direction(rules.natural_gradient())
            dK = direction(rules.kfac(strict=strict))
            ng = _norm(g)
            res = _norm(F @ dB - g) / ng
            pyth = abs(_norm(dB) ** 2 - _norm(dN) ** 2 - _norm(dB - dN) ** 2) / _norm(dB) ** 2
            worst = max(worst, res, pyth)
            gaps_ok &= _norm(dB - dN) > mpmath.mpf("1e-3") * _norm(dN)
            neg = _norm(F @ dK - g) / ng
            worst_neg = neg if worst_neg is None else min(worst_neg, neg)
            norms.append(f"{'-'.join(map(str, [net.widths[v] for v in net.order]))}: "
                         f"|d_B| = {mpmath.nstr(_norm(dB), 6)} > |d_N| = {mpmath.nstr(_norm(dN), 6)}")
    tol = 10.0 ** (-(digits - 10))
    numeric = CheckResult("‖F d_B − ∇L‖/‖∇L‖ and Pythagoras defect", float(worst), tol,
                          float(worst) <= tol and gaps_ok, {"min_norm_gap": gaps_ok})
    negative = CheckResult("‖F d_KFAC − ∇L‖/‖∇L‖", float(worst_neg), tol, float(worst_neg) <= tol)
    return cs.Evidence("n/a", numeric, negative, notes="; ".join(norms))
