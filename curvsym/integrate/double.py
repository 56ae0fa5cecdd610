"""Double-precision integration with SciPy's ``solve_ivp`` (DOP853 by default)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.integrate import solve_ivp

from ..codegen import GeneratedFunction
from ..errors import DivergenceError, NonFiniteError
from .state import check_finite_state, flatten, unflattener
from .trajectory import Trajectory


def integrate_double(rhs: GeneratedFunction, weights: Sequence[np.ndarray], data: Sequence[np.ndarray],
                     t_eval: Sequence[float], *, params: dict | None = None, method: str = "DOP853",
                     rtol: float = 1e-12, atol: float = 1e-12, max_norm: float = 1e12) -> Trajectory:
    """Integrate dW/dt = rhs(W, data) from t_eval[0] through every time in ``t_eval``.

    Raises :class:`DivergenceError` (with the time reached) if the state leaves
    the ball ‖W‖_max ≤ ``max_norm`` or becomes non-finite.
    """
    params = params or {}
    weights = tuple(np.asarray(w, dtype=float) for w in weights)
    data = tuple(np.asarray(d, dtype=float) for d in data)
    data = rhs.validate(weights, data, params)  # shapes, finiteness, symmetric Σx
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1 or len(t_eval) < 1 or np.any(np.diff(t_eval) < 0) or not np.all(np.isfinite(t_eval)):
        raise ValueError("t_eval must be a non-empty, finite, non-decreasing 1-D sequence of times")
    shapes = [w.shape for w in weights]
    split = unflattener(shapes)
    f = rhs.func
    counter = [0]

    def fun(t, y):
        counter[0] += 1
        out = f(*split(y), *data, **params, xp=np, _like=weights[0])
        return np.concatenate([np.ravel(v) for v in out])

    def blowup(t, y):
        return max_norm - np.max(np.abs(y))
    blowup.terminal = True

    y0 = flatten(weights)
    if len(t_eval) == 1 or t_eval[-1] == t_eval[0]:
        return Trajectory(tuple(t_eval), tuple(weights for _ in t_eval), "initial", 0.0)
    sol = solve_ivp(fun, (t_eval[0], t_eval[-1]), y0, method=method, t_eval=t_eval, rtol=rtol, atol=atol,
                    events=blowup)
    if sol.status == 1 or (sol.t_events and len(sol.t_events[0])):
        t_hit = float(sol.t_events[0][0]) if len(sol.t_events[0]) else float(sol.t[-1])
        raise DivergenceError(f"the solution left ‖W‖_max ≤ {max_norm:g} at t = {t_hit:.6g} (divergence)", t_hit)
    if sol.status != 0:
        t_hit = float(sol.t[-1]) if len(sol.t) else float(t_eval[0])
        raise DivergenceError(f"solve_ivp failed at t ≈ {t_hit:.6g}: {sol.message}", t_hit)
    states = tuple(tuple(np.array(a) for a in split(sol.y[:, k])) for k in range(sol.y.shape[1]))
    for s in states:
        check_finite_state(s, "integrated state")
    est = max(rtol * float(np.max(np.abs(sol.y))), atol) * max(1, sol.nfev // 12)
    return Trajectory(tuple(sol.t), states, f"scipy {method}", est, None, n_steps=int(sol.nfev // 12),
                      n_rhs=int(sol.nfev))
