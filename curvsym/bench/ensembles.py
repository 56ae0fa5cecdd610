"""Part e of ``curvsym bench``: batched-ensemble throughput on array-API backends (CPU or GPU)."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..codegen import generate_flow
from ..symbolic import derive, network
from .linear import gf_reference
from .timing import BenchRow


def _sync(name: str) -> None:
    if name == "torch":
        import torch
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    elif name == "cupy":
        import cupy
        cupy.cuda.Stream.null.synchronize()


def _matmul_rate(name: str, device, n: int = 8192, repeats: int = 5) -> float:
    """Measured fp64 FLOP/s of one large n × n matmul on ``device``."""
    from ..codegen.backends import namespace
    xp = namespace(name)
    a = xp.ones((n, n), dtype=xp.float64, device=device)
    b = a @ a
    _sync(name)
    t0 = time.perf_counter()
    for _ in range(repeats):
        b = a @ a
    _sync(name)
    del b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t0)


def bench_ensemble(backends: Sequence[str], sizes: Sequence[tuple] = ((4096, 4, 8), (64, 8, 256)),
                   steps: int = 3) -> list[BenchRow]:
    """Throughput of batched GF integration (fixed-step RK4): trajectories × steps per second.

    Each backend runs on its GPU when it sees one, else on the CPU; the reference of every
    row is the NumPy-CPU run of the same size, and on a GPU the achieved matmul FLOP rate
    is reported as a fraction of that GPU's large fp64 matmul rate measured in the same run.
    """
    from ..codegen.backends import has_gpu, namespace, to_backend
    from ..integrate.ensemble import rk4
    rows = []
    base: dict = {}
    for B, N, d in sizes:
        net = network.deep_chain(N, d)
        m = derive.model(net)
        rhs = generate_flow(derive.gradient_flow(m), "array_api")
        rng = np.random.default_rng(0)
        ws = [rng.standard_normal((B, d, d)) / np.sqrt(d) for _ in range(N)]
        S, T = np.eye(d), rng.standard_normal((d, d))
        flops_per_step = 4 * rhs.n_products * 2 * d ** 3 * B
        for name in backends:
            namespace(name)
            gpu = has_gpu(name)
            device = "cuda" if gpu and name == "torch" else None
            arrays = to_backend([*ws, S, T], name, device=device)
            n_steps = steps if (gpu or B * d ** 3 < 1e8) else 1
            run = lambda: rk4(rhs, arrays[:N], arrays[N:], [0.0, 0.01 * n_steps], dt=0.01)
            run()  # warm-up (compilation, allocation)
            _sync(name)
            t0 = time.perf_counter()
            run()
            _sync(name)
            elapsed = time.perf_counter() - t0
            thr = B * n_steps / elapsed
            rate = flops_per_step * n_steps / elapsed
            note = f"{thr:,.0f} traj·steps/s, {rate / 1e9:.1f} GFLOP/s"
            met, target = None, ""
            if gpu:
                peak = _matmul_rate(name, device)
                frac = rate / peak
                note += f", {100 * frac:.0f}% of the measured fp64 matmul rate ({peak / 1e12:.1f} TFLOP/s)"
                if (B, N, d) == (64, 8, 256):
                    target, met = "≥ 50% of fp64 matmul rate", frac >= 0.5
            key = (B, N, d)
            if name == "numpy":
                base[key] = elapsed / n_steps
            ref = base.get(key)
            if gpu and (B, N, d) == (4096, 4, 8) and ref is not None:
                target, met = "≥ 100× NumPy-CPU throughput", ref / (elapsed / n_steps) >= 100
            where = "GPU" if gpu else "CPU"
            rows.append(BenchRow(f"e. ensemble RK4 B={B} N={N} d={d} [{name}, {where}]", elapsed / n_steps,
                                 ref, "NumPy CPU, same size" if ref else "", target, met, note))
    if not any(has_gpu(n) for n in backends):
        rows.append(BenchRow("e. GPU figures", None, None, "", "", None,
                             "no GPU visible to the requested backends in this run: GPU targets not measured"))
    return rows


# --------------------------------------------------------------------------- against a plain torch loop

def _torch_rk4(ws: list, S: Any, T: Any, dt: float, n: int) -> list:
    """Classical RK4 on torch tensors (the flow by :func:`~curvsym.bench.linear.gf_reference`), n steps of dt,
    stage states out of place, the update in place."""
    y = [w.clone() for w in ws]
    for _ in range(n):
        k1 = gf_reference(y, S, T)
        k2 = gf_reference([a + (dt / 2) * b for a, b in zip(y, k1)], S, T)
        k3 = gf_reference([a + (dt / 2) * b for a, b in zip(y, k2)], S, T)
        k4 = gf_reference([a + dt * b for a, b in zip(y, k3)], S, T)
        for a, b, c, d, e in zip(y, k1, k2, k3, k4):
            a.add_(b.add_(c, alpha=2).add_(d, alpha=2).add_(e), alpha=dt / 6)
    return y


def _torch_gd(ws: list, S: Any, T: Any, eta: float, n: int) -> list:
    """n gradient-descent steps W ← W − η∇L, in place."""
    y = [w.clone() for w in ws]
    for _ in range(n):
        for a, v in zip(y, gf_reference(y, S, T)):
            a.add_(v, alpha=eta)
    return y


def bench_torch_loops(sizes: Sequence[tuple] = ((64, 8, 64), (16, 8, 128), (4, 8, 256)), steps: int = 8,
                      repeats: int = 5) -> list[BenchRow]:
    """Batched RK4 and GD on PyTorch (its GPU when it sees one) against plain torch loops of the same
    mathematics (:func:`_torch_rk4`, :func:`_torch_gd`): seconds per step, medians of interleaved repeats,
    states compared; target ratio ≤ 1 (ours no slower).  GD records the end state only (``record_every=n``),
    as a long run would; one row says so when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return [BenchRow("e. torch loops", None, None, "", "", None,
                         "PyTorch is not installed: skipped (pip install torch)")]
    from ..codegen.backends import has_gpu
    from ..integrate.ensemble import iterate, rk4
    from .timing import interleaved
    device = "cuda" if has_gpu("torch") else "cpu"
    rows = []
    for B, N, d in sizes:
        net = network.deep_chain(N, d)
        rhs = generate_flow(derive.gradient_flow(derive.model(net)), "array_api")
        rng = np.random.default_rng(0)
        ws = [torch.tensor(rng.standard_normal((B, d, d)) / np.sqrt(d), dtype=torch.float64, device=device)
              for _ in range(N)]
        S = torch.eye(d, dtype=torch.float64, device=device)
        T = torch.tensor(rng.standard_normal((d, d)) / np.sqrt(d), dtype=torch.float64, device=device)
        dt = eta = 1e-3
        runs = {
            "RK4": (lambda: rk4(rhs, ws, (S, T), [0.0, dt * steps], dt).final,
                    lambda: _torch_rk4(ws, S, T, dt, steps)),
            "GD": (lambda: iterate(rhs, ws, (S, T), eta, steps, record_every=steps).final,
                   lambda: _torch_gd(ws, S, T, eta, steps)),
        }
        for method, (ours, plain) in runs.items():
            diff = max(float(torch.max(torch.abs(a - b))) for a, b in zip(ours(), plain()))
            synced = [lambda f=f: (f(), _sync("torch")) for f in (ours, plain)]
            t_ours, t_plain = interleaved(synced, repeats)
            where = "GPU" if device == "cuda" else "CPU"
            rows.append(BenchRow(f"e. torch {method} B={B} N={N} d={d} [{where}, {steps} steps]",
                                 t_ours / steps, t_plain / steps, "plain torch loop (matmul, in-place update)",
                                 "ratio ≤ 1", t_ours <= t_plain,
                                 f"speed {t_plain / t_ours:.2f}× the plain loop; states agree to {diff:.1e}"))
    return rows
