"""Part h of ``curvsym bench``: its rows run (imports included) and state digits that hold."""

import math
import re

import pytest

from curvsym.bench.precision import _setting, bench_engines, bench_gpu, float_floor
from curvsym.codegen import backends


def test_float_floor_counts_the_stacked_products_of_the_tape():
    inst, rhs = _setting(3, 4)
    seconds, gflops = float_floor(rhs, inst, order=4)
    assert seconds > 0 and math.isfinite(gflops) and gflops > 0


def test_engine_row_delivers_the_digits_asked_for_and_prints_the_floor():
    row = bench_engines(3, 4, 0.002, dps=30, target=1.0, span=2.0)   # a small net: a few steps, ~3 s
    ours, flint = re.search(r"digits vs 60-digit \w+: ours (\d+\.\d), flint (\d+\.\d)", row.note).groups()
    assert float(ours) >= 30 and float(flint) >= 30
    assert row.ours > 0 and row.reference > 0
    floor, over = re.search(r"float64 floor (\d+\.\d) ms/step .* ours (\d+\.\d+)× the floor", row.note).groups()
    assert float(floor) >= 0 and float(over) > 0
    assert "≤ 2.5× the float64 floor" in row.target


def _gpu() -> bool:
    return any(backends.has_gpu(n) for n in ("cupy", "torch"))


@pytest.mark.skipif(_gpu(), reason="a GPU is present: the row measures it (test_gpu_row_measures_the_device)")
def test_gpu_rows_say_not_measured_without_a_gpu():
    (row,) = bench_gpu()
    assert row.ours is None and row.met is None and "not measured" in row.note


def test_gpu_row_code_runs_on_a_cpu_stand_in():
    """The GPU row's code path (GEMM rate, one series on ``xp``, fraction of the rate) on NumPy, small."""
    (row,) = bench_gpu(N=3, d=4, backend="numpy", repeats=1)
    rate = float(re.search(r"fp64 GEMM (\d+) GFLOP/s", row.note).group(1))
    assert rate > 0 and row.ours > 0 and row.reference > 0 and "% of the GEMM rate" in row.note


@pytest.mark.gpu
def test_gpu_row_measures_the_device():
    """``-m gpu``: on a machine with CuPy or torch and a device, the row measures the fp64 GEMM rate and the
    engine's series there."""
    if not _gpu():
        pytest.skip("no GPU (CuPy or torch with a device)")
    (row,) = bench_gpu()
    assert row.ours > 0 and row.reference > 0 and "device" in row.note


def test_gbs_row_with_an_absolute_target_judges_the_time_and_the_digits():
    from curvsym.bench.precision import bench_gbs
    row = bench_gbs("ngd", (2, 2, 2), 1, [0, 0.1], 20, within=60.0)
    agree = float(re.search(r"routes agree to (\d+\.\d) digits", row.note).group(1))
    assert row.target.startswith("≤ 60 s") and agree >= 20
    assert row.met == (row.ours <= 60.0)
    assert bench_gbs("ngd", (2, 2, 2), 1, [0, 0.1], 20, within=1e-9).met is False  # an impossible budget fails
