r"""Batched ensembles: B trajectories at once on any array-API backend.

States carry a leading batch axis: W_i has shape (B, n_i, n_{i−1}); the generated
right-hand side already broadcasts (``@`` and ``.mT`` act on the last two axes), and
Σx, T may be shared (2-D) or per trajectory (3-D).  Everything here is written on
the array API, so the same code runs on NumPy, PyTorch, JAX or CuPy arrays on the
device where they live.

* :func:`rk4` — classical fixed-step Runge–Kutta (4th order), one step size for all.
* :func:`dopri5` — Dormand–Prince 5(4) with **per-trajectory** adaptive steps
  (Hairer–Nørsett–Wanner controller); trajectories that are done are frozen by a
  zero step, so trajectory b follows exactly the step sequence it would follow alone
  and agrees with a single-trajectory run to round-off.
* :func:`gd` — discrete gradient-descent (Euler) steps W ← W + η·V(W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from .codegen import GeneratedFunction
from .errors import DivergenceError, StepLimitError

__all__ = ["EnsembleTrajectory", "rk4", "dopri5", "gd"]


@dataclass(frozen=True)
class EnsembleTrajectory:
    """``states[k][i]`` is layer i of all B trajectories at ``t[k]``."""

    t: tuple
    states: tuple
    method: str
    n_steps: int
    n_rhs: int

    @property
    def final(self) -> tuple:
        return self.states[-1]


def _xp(arrays):
    from array_api_compat import array_namespace
    return array_namespace(*arrays)


def _prepare(rhs: GeneratedFunction, weights, data, params):
    if rhs.backend == "mpmath":
        raise ValueError("ensembles integrate in floating point; generate the flow with backend 'numpy' or 'array_api'")
    data = rhs.validate(weights, data, params)
    xp = _xp(list(weights) + list(data))
    batch = weights[0].shape[:-2]
    if len(batch) != 1:
        raise ValueError(f"ensemble weights need exactly one leading batch axis, got shape {weights[0].shape}")
    for w in weights:
        if w.shape[:-2] != batch:
            raise ValueError("all layers must share the batch size")
    f = rhs.func
    like = weights[0]

    def field(state):
        return f(*state, *data, **params, xp=xp, _like=like)

    return xp, field, batch[0]


def _check_finite(xp, state, t) -> None:
    if not all(bool(xp.all(xp.isfinite(w))) for w in state):
        raise DivergenceError(f"a trajectory became non-finite by t = {t:.6g} (divergence)", float(t))


def rk4(rhs: GeneratedFunction, weights: Sequence[Any], data: Sequence[Any], t_eval: Sequence[float], dt: float,
        params: dict | None = None) -> EnsembleTrajectory:
    """Classical RK4 with steps of at most ``dt`` between consecutive output times."""
    params = params or {}
    xp, field, _ = _prepare(rhs, weights, data, params)
    y = tuple(weights)
    out, n_steps = [y], 0
    for t0, t1 in zip(t_eval[:-1], t_eval[1:]):
        n = max(1, math.ceil((t1 - t0) / dt - 1e-12))
        h = (t1 - t0) / n
        for _ in range(n):
            k1 = field(y)
            k2 = field(tuple(a + (h / 2) * b for a, b in zip(y, k1)))
            k3 = field(tuple(a + (h / 2) * b for a, b in zip(y, k2)))
            k4 = field(tuple(a + h * b for a, b in zip(y, k3)))
            y = tuple(a + (h / 6) * (b + 2 * c + 2 * d + e) for a, b, c, d, e in zip(y, k1, k2, k3, k4))
            n_steps += 1
        _check_finite(xp, y, t1)
        out.append(y)
    return EnsembleTrajectory(tuple(t_eval), tuple(out), f"RK4 dt={dt:g}", n_steps, 4 * n_steps)


# Dormand–Prince 5(4) tableau
_C = (0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1)
_A = ((),
      (1 / 5,),
      (3 / 40, 9 / 40),
      (44 / 45, -56 / 15, 32 / 9),
      (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
      (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
      (35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84))
_B5 = (35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0)
_E = (71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)  # b5 − b4


def dopri5(rhs: GeneratedFunction, weights: Sequence[Any], data: Sequence[Any], t_eval: Sequence[float],
           rtol: float = 1e-8, atol: float = 1e-10, params: dict | None = None, first_step: float = 1e-2,
           max_steps: int = 100_000) -> EnsembleTrajectory:
    """Dormand–Prince 5(4), each trajectory with its own adaptive step (see module docstring).

    Error norm per trajectory: RMS over all entries of err/(atol + rtol·max(|y|, |y_new|));
    a step is accepted where the norm is ≤ 1; h ← h·clip(0.9·err^{−1/5}, 0.2, 5).
    """
    params = params or {}
    xp, field, B = _prepare(rhs, weights, data, params)
    from array_api_compat import device
    kw = {"dtype": weights[0].dtype, "device": device(weights[0])}
    y = tuple(weights)
    t = xp.full((B,), float(t_eval[0]), **kw)
    h = xp.full((B,), float(first_step), **kw)
    n_entries = sum(math.prod(w.shape[1:]) for w in weights)
    out, n_steps, n_rhs = [y], 0, 0
    bshape = lambda v: xp.reshape(v, (B, 1, 1))
    for target in t_eval[1:]:
        target = float(target)
        while True:
            remaining = target - t
            active = remaining > 1e-14 * max(1.0, abs(target))
            if not bool(xp.any(active)):
                break
            if n_steps >= max_steps:
                raise StepLimitError(f"dopri5 needed more than {max_steps} steps before t = {target}",
                                     float(xp.min(t)))
            step = xp.where(active, xp.minimum(h, remaining), xp.zeros_like(h))
            k = [field(y)]
            for s in range(1, 7):
                stage = tuple(yi + bshape(step) * sum(a * kj[i] for a, kj in zip(_A[s], k) if a != 0)
                              for i, yi in enumerate(y))
                k.append(field(stage))
            n_rhs += 7
            y_new = tuple(yi + bshape(step) * sum(b * kj[i] for b, kj in zip(_B5, k) if b != 0)
                          for i, yi in enumerate(y))
            err_sq = None
            for i, (yi, yn) in enumerate(zip(y, y_new)):
                e = bshape(step) * sum(c * kj[i] for c, kj in zip(_E, k) if c != 0)
                scale = atol + rtol * xp.maximum(xp.abs(yi), xp.abs(yn))
                part = xp.sum((e / scale) ** 2, axis=(-2, -1))
                err_sq = part if err_sq is None else err_sq + part
            err = xp.sqrt(err_sq / n_entries)
            finite = xp.isfinite(err)
            accept = active & finite & (err <= 1.0)
            y = tuple(xp.where(bshape(accept), yn, yi) for yi, yn in zip(y, y_new))
            t = xp.where(accept, t + step, t)
            safe = xp.where(finite & (err > 0), err, xp.full_like(err, 1e-10))
            fac = xp.clip(0.9 * safe ** (-0.2), 0.2, 5.0)
            fac = xp.where(finite, fac, xp.full_like(fac, 0.2))
            clipped = step < h  # a step shortened to land on t_eval says nothing against h
            h_new = xp.where(accept & clipped, xp.maximum(h, step * fac), step * fac)
            h = xp.where(active, h_new, h)
            if bool(xp.any(active & (h < 1e-12 * max(1.0, abs(target))))):
                raise DivergenceError(f"dopri5 step size collapsed before t = {target} (divergence)",
                                      float(xp.min(t)))
            n_steps += 1
        _check_finite(xp, y, target)
        out.append(y)
    return EnsembleTrajectory(tuple(t_eval), tuple(out), "Dormand–Prince 5(4), per-trajectory steps", n_steps, n_rhs)


def gd(rhs: GeneratedFunction, weights: Sequence[Any], data: Sequence[Any], eta: Any, n_steps: int,
       record_every: int = 1, params: dict | None = None) -> EnsembleTrajectory:
    """Discrete gradient descent W_{k+1} = W_k + η V(W_k) (V the generated velocity, −∇L for GD).

    ``eta`` is a number or one step size per trajectory (shape (B,)), for stability scans.
    Unlike the integrators this does not raise on divergence: GD at a large step size
    is *supposed* to diverge there.  Non-finite entries are left as they are.
    """
    params = params or {}
    xp, field, B = _prepare(rhs, weights, data, params)
    if not isinstance(eta, (int, float)):
        from array_api_compat import device
        eta = xp.reshape(xp.asarray(eta, dtype=weights[0].dtype, device=device(weights[0])), (B, 1, 1))
    y = tuple(weights)
    out, times = [y], [0]
    for k in range(1, n_steps + 1):
        y = tuple(a + eta * v for a, v in zip(y, field(y)))
        if k % record_every == 0 or k == n_steps:
            out.append(y)
            times.append(k)
    label = f"η={eta:g}" if isinstance(eta, (int, float)) else "per-trajectory η"
    return EnsembleTrajectory(tuple(times), tuple(out), f"gradient descent {label}", n_steps, n_steps)
