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
