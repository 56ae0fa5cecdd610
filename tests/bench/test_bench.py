"""The benchmark code runs and measures the right things (no timing assertions)."""

import math
import re

import numpy as np
from curvsym.problems import random_instance

import curvsym as cs
from curvsym import bench


def test_hand_written_reference_matches_generated_rhs():
    net = cs.deep_chain(5, 4)
    inst = random_instance(net, seed=2)
    gen = cs.generate_flow(cs.gradient_flow(cs.model(net)))(inst.weights, *inst.data())
    for a, b in zip(gen, bench.gf_reference(inst.weights, *inst.data())):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_bench_rows_and_table():
    rows = bench.bench_rhs(N=3, widths=(8,), repeats=1) + bench.bench_derivation(depths=(2, 4))
    assert rows[0].note.startswith("7 products (3N = 9)")  # 3N − 2 for N = 3
    assert rows[0].reference_name == "hand-written NumPy prefix/suffix" and rows[0].ours > 0 < rows[0].reference
    assert rows[-1].name.startswith("d. derivation growth") and rows[1].reference is None
    assert re.search(r"time ∝ N\^-?\d+\.\d\d$", rows[-1].note)
    text = bench.table(rows)
    assert text.count("\n") == len(rows) + 3  # header, rule, one line per row, blank, summary
    missed = [r.name for r in rows if r.met is False]
    assert text.endswith("all targets met") == (not missed)
    assert ("targets MISSED" in text) == bool(missed)


def test_table_summary_follows_the_verdicts():
    ok = bench.BenchRow("x", 1.0, 2.0, "ref", "≤ 1", True)
    bad = bench.BenchRow("y", 3.0, 2.0, "ref", "≤ 1", False)
    note = bench.BenchRow("z", None, None, "", "", None, "just a note")
    assert bench.table([ok, note]).endswith("all targets met")
    assert bench.table([ok, bad]).endswith("targets MISSED: y")
    assert bench.table([note]).endswith("no targets in this run")
    assert ok.ratio == 0.5 and math.isnan(note.ratio)


def test_affordable_interleaving_counts_its_runs():
    calls = []
    fs = [lambda: calls.append("a") or "A", lambda: calls.append("b") or "B"]
    medians, runs, first = bench.linear._interleaved_affordable(fs, repeats=3, once_above=math.inf)
    assert runs == [3, 3] and first == ["A", "B"] and calls == ["a", "b"] * 3 and all(m >= 0 for m in medians)
    calls.clear()
    _, runs, _ = bench.linear._interleaved_affordable(fs, repeats=3, once_above=0.0)  # every run "too slow": once each
    assert runs == [1, 1] and calls == ["a", "b"]


def test_high_precision_row_states_its_runs_and_drifts():
    (row,) = bench.bench_high_precision(digits=(20,), t_end=0.05, repeats=2, once_above=math.inf)
    assert row.reference_name == "mpmath.odefun"
    assert "ours median of 2 interleaved runs, odefun median of 2 interleaved runs" in row.note
    drifts = [float(x) for x in re.findall(r"(?:ours|odefun) (\d\.\de[-+]\d+)", row.note)]
    assert len(drifts) == 2 and max(drifts) < 1e-15  # both integrate a balance-conserving flow
