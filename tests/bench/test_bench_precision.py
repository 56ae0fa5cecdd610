"""Part h of ``curvsym bench``: its rows run (imports included) and state digits that hold."""

import math
import re

from curvsym.bench.precision import _setting, bench_engines, float_floor


def test_float_floor_counts_the_stacked_products_of_the_tape():
    inst, rhs = _setting(3, 4)
    seconds, gflops = float_floor(rhs, inst, order=4)
    assert seconds > 0 and math.isfinite(gflops) and gflops > 0


def test_engine_row_delivers_the_digits_asked_for():
    row = bench_engines(3, 4, 0.002, dps=30, target=1.0)   # a small net: one or two steps, ~2 s
    ours, flint = re.search(r"digits vs 60-digit \w+: ours (\d+\.\d), flint (\d+\.\d)", row.note).groups()
    assert float(ours) >= 30 and float(flint) >= 30
    assert row.ours > 0 and row.reference > 0


def test_gbs_row_with_an_absolute_target_judges_the_time_and_the_digits():
    from curvsym.bench.precision import bench_gbs
    row = bench_gbs("ngd", (2, 2, 2), 1, [0, 0.1], 20, within=60.0)
    agree = float(re.search(r"routes agree to (\d+\.\d) digits", row.note).group(1))
    assert row.target.startswith("≤ 60 s") and agree >= 20
    assert row.met == (row.ours <= 60.0)
    assert bench_gbs("ngd", (2, 2, 2), 1, [0, 0.1], 20, within=1e-9).met is False  # an impossible budget fails
