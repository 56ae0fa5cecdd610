"""Part e of ``curvsym bench``: batched-ensemble throughput on array-API backends (CPU or GPU)."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from ..codegen import generate_flow
from ..symbolic import derive, network
from . import BenchRow


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
