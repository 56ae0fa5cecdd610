"""The nonlinear benchmark measures the right things (no timing assertions; about 2 s)."""

import numpy as np

from curvsym import bench
from curvsym.bench import relu_gradient as bench_nonlinear
from curvsym.codegen import generate_expressions


def test_reference_backprop_matches_the_generated_gradient():
    m, params, X, Y = bench_nonlinear.relu_problem(examples=50, widths=(64, 7, 5, 10))
    ours = generate_expressions(m, "gradient", list(m.gradient()))(params, X, Y)
    for a, b in zip(ours, bench_nonlinear.reference_backprop(params, X, Y)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_rows_name_their_references():
    rows = bench_nonlinear.run_nonlinear(quick=True, examples=100)
    assert rows[0].reference_name == "hand-written NumPy backprop" and rows[0].ours > 0 and rows[0].reference > 0
    assert "agreement" in rows[0].note and "products" in rows[0].note
    assert rows[1].reference_name == "torch.autograd" or "not installed" in rows[1].note
    assert "g. ReLU 64-50-50-10" in bench.table(rows)
