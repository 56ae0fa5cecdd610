"""Flat minima are coupled: one path of singular vectors from input to output (Mulayoff & Michaeli 2020).

Statement (whitened, no bottleneck; MATH.md §3.3).  At a flattest (balanced) minimum, with
u, v the top singular pair of T and r_i = W_{>i}ᵀu/‖W_{>i}ᵀu‖, r_i is a left singular vector
of W_i and a right singular vector of W_{i+1}, and the gain along the path is
‖W_i⋯W_1 v‖ = s₁^{i/N}: the layers are coupled and the gain grows evenly.

Numeric check (double precision, the coupling residual is an angle and a ratio): balanced
minima of chains 3-3-3-3 and 4-5-5-4 (random hidden bases); residual max_i of 1 − |⟨r_i, ·⟩|
and of the relative gain error, tolerance 1e-10.

Negative control: a random (unbalanced) global minimum of the same T.
"""

import numpy as np

import curvsym as cs
from curvsym import sharpness as sh
from curvsym.checks import CheckResult


@cs.theorem("flat minima are coupled with gains s₁^{i/N}", __doc__.split("\n\n")[1], digits=16)
def coupling_flat(digits: int) -> cs.Evidence:
    rng = np.random.default_rng(9)
    worst = 0.0
    for widths in ([3, 3, 3, 3], [4, 5, 5, 4]):
        T = rng.standard_normal((widths[-1], widths[0]))
        ws = sh.balanced_minimum(T, widths, rng)
        worst = max(worst, sh.coupling(ws, T).residual())
    T = rng.standard_normal((3, 3))
    neg = sh.coupling(sh.random_minimum(T, 3, rng), T).residual()
    numeric = CheckResult("coupling residual at balanced minima", worst, 1e-10, worst <= 1e-10)
    negative = CheckResult("coupling residual at an unbalanced minimum", neg, 1e-10, neg <= 1e-10)
    return cs.Evidence("n/a", numeric, negative)
