"""The discrete benchmark measures the right things (no timing assertions). About 2 s."""

import numpy as np

import curvsym as cs
from curvsym import bench
from curvsym.bench import gd_steps as bench_discrete
from curvsym.papers import elkabetz2021 as ec


def test_hand_written_loops_are_the_same_gd():
    P = ec.digits_problem(300)
    W = P.reduce(ec.xavier_uniform(P.full_widths, np.random.default_rng(1)))
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(cs.chain(P.widths))))
    ours = cs.ensemble.iterate(rhs, [w[None] for w in W], P.data(), 1e-2, 20, record_every=20).final
    hand = bench_discrete.hand_gd(W, *P.data(), 1e-2, 20)
    data = bench_discrete.hand_gd_data(W, P.X, P.Y, 1e-2, 20)
    for a, b, c in zip(ours, hand, data):
        np.testing.assert_allclose(a[0], b, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(b, c, rtol=1e-9, atol=1e-10)  # the population form is the same loss


def test_rows_and_table():
    rows = bench_discrete.bench_gd_steps(n_steps=30, repeats=1) + bench_discrete.bench_precise(n_steps=3, dps=20)
    assert rows[0].target == "ratio ≤ 1.3" and rows[0].reference_name.startswith("hand-written")
    assert rows[1].met is None and "population form" in rows[1].note and "steps/s" in rows[2].note
    text = bench.table(rows)
    assert "hand-written NumPy loop" in text and ("all targets met" in text or "MISSED" in text)
