"""Benchmarks: every figure is a ratio against a named reference measured side by side.

``curvsym bench`` runs the parts named by ``--only`` (letters or names):

====  ==============  =========================================================================
a     rhs             generated gradient-flow right-hand side vs a hand-written NumPy
                      prefix/suffix implementation (N = 8, d ∈ {64, 256}): ratio ≤ 1.10, ≤ 3N products
b     odefun          high-precision Taylor integration vs ``mpmath.odefun`` (N = 3, d = 3): ≥ 20×
c     double          DOP853 pipeline vs ``solve_ivp`` DOP853 on a lean hand-written RHS: ≤ 1.2
d     derivation      symbolic derivation time for N = 4, 16, 64: N = 64 < 10 s, growth ≤ N²
e     ensembles       batched RK4 throughput per array backend (``--backend numpy,torch``; GPU rows
                      against that GPU's own fp64 matmul rate); with torch, batched RK4 and GD vs a
                      plain torch loop (N = 8, d ∈ {64, 128, 256}): ratio ≤ 1
f     sweeps          Dask sweep throughput, 1 vs 2 workers, and per-point overhead vs a plain loop
g     nonlinear       generated ReLU-network gradient vs hand-written NumPy backprop (and torch.autograd)
h     precision       multi-word and flint Taylor engines vs each other, heyoka and mpmath.odefun
i     discrete        10⁵ GD steps of a 64-50-50-10 net on 1000 digits vs a hand-written NumPy loop
j     laws            exact Lie rank at D = 24 … 300 vs a float64 rank at one point (and a case where
                      the float rank is wrong); the law search at degree 2 and 4 on a 3-layer net
k     momentum        heavy ball and Adam (generated step maps of the rules with memory) on the same net
                      vs hand-written NumPy loops: ratio ≤ 1.3
====  ==============  =========================================================================

Modules: ``timing`` (interleaved medians, the result table), ``linear`` (a–d),
``ensembles`` (e), ``sweeps`` (f), ``relu_gradient`` (g), ``precision`` (h), ``gd_steps`` (i),
``conservation_laws`` (j), ``memory_steps`` (k), and ``fresh_seeds``: every theorem on n fresh seeds with its
pass rate (``curvsym prove proofs/ --seeds 20``).

Timings are medians of interleaved repeats (ours, reference, ours, …), so both
sides see the same machine state; a row that times a side once says so.
Nothing here is asserted in tests.
"""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError

__all__ = ["BenchRow", "table", "run", "PARTS", "gf_reference", "bench_rhs", "bench_high_precision", "bench_double",
           "bench_derivation", "bench_ensemble", "bench_torch_loops"]


from .timing import BenchRow, table

PARTS: dict[str, tuple[str, str]] = {
    "a": ("rhs", "linear:run_rhs"), "b": ("odefun", "linear:run_odefun"), "c": ("double", "linear:run_double"),
    "d": ("derivation", "linear:run_derivation"), "f": ("sweeps", "sweeps:run_sweep_bench"),
    "g": ("nonlinear", "relu_gradient:run_nonlinear"), "h": ("precision", "precision:run_precision"),
    "i": ("discrete", "gd_steps:run_discrete"), "j": ("laws", "conservation_laws:run_laws"),
    "k": ("momentum", "memory_steps:run_momentum"),
}
"""Letter → (name, "module:function") of every part; ``e`` (ensembles) needs ``--backend``."""


def parse_parts(only: str) -> list[str]:
    """Letters of the parts named in ``only`` (``"abc"``, or names ``"rhs,precision"``).

    Raises:
        UnknownNameError: a name or letter that is no part.
    """
    names = {name: letter for letter, (name, _) in PARTS.items()}
    if "," in only or only in names:
        tokens = [t.strip() for t in only.split(",") if t.strip()]
    else:
        tokens = list(only)
    out = []
    for t in tokens:
        letter = t if t in PARTS else names.get(t)
        if letter is None:
            known = ", ".join(f"{k} ({v[0]})" for k, v in PARTS.items())
            raise UnknownNameError(f"unknown benchmark part {t!r}; known: {known}, e (ensembles, with --backend)")
        out.append(letter)
    return out


def run(parts: str = "abcdfghij", quick: bool = False) -> list[BenchRow]:
    """The rows of the named parts, in the order given.

    Raises:
        UnknownNameError: an unknown part.
    """
    rows: list[BenchRow] = []
    for letter in parse_parts(parts):
        module, function = PARTS[letter][1].split(":")
        rows += getattr(importlib.import_module(f".{module}", __name__), function)(quick)
    return rows


from .ensembles import bench_ensemble, bench_torch_loops  # noqa: E402
from .linear import bench_derivation, bench_double, bench_high_precision, bench_rhs, gf_reference  # noqa: E402
