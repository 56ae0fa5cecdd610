"""The benchmark code runs and measures the right things (no timing assertions)."""

import numpy as np

import curvsym as cs
from curvsym import bench
from curvsym.problems import random_instance


def test_hand_written_reference_matches_generated_rhs():
    net = cs.deep_chain(5, 4)
    inst = random_instance(net, seed=2)
    gen = cs.generate_flow(cs.gradient_flow(cs.model(net)))(inst.weights, *inst.data())
    for a, b in zip(gen, bench.gf_reference(inst.weights, *inst.data())):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_bench_rows_and_table():
    rows = bench.bench_rhs(N=3, widths=(8,), repeats=1) + bench.bench_derivation(depths=(2, 4))
    assert rows[0].note.startswith("7 products")  # 3N − 2 for N = 3
    assert rows[-1].name.startswith("d. derivation growth") and rows[1].reference is None
    text = bench.table(rows)
    assert "hand-written NumPy prefix/suffix" in text and ("all targets met" in text or "MISSED" in text)
