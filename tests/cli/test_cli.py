"""The command line and the first-hour mistakes: each ends in one line naming the problem."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from curvsym.rules_text import load_rule_file, parse_rule

import curvsym as cs
from curvsym.cli import main


def _run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(err, *needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "error" in lines[0] and all(n in lines[0] for n in needles), lines[0]


@pytest.mark.parametrize("argv, needles", [
    (["prove", "no/such/folder"], ["no such theorem file or folder"]),
    (["rules", "--file", "no_such.rule"], ["no such rule file"]),
    (["rules", "--show", "adamw"], ["unknown rule 'adamw'", "gd, ngd"]),
    (["prove", "proofs/", "--digits", "0"], ["--digits must be at least 15"]),
    (["prove", "proofs/", "--digits", "-5"], ["--digits must be at least 15"]),
    (["derive", "-1,2"], ["every width must be a positive integer, got -1"]),
    (["derive", "2,x"], ["comma-separated integers"]),
    (["derive", "2,3,2", "--resnet"], ["one width", "2,2,2"]),
    (["prove", "proofs/", "--jobs", "0"], ["--jobs must be positive"]),
])
def test_everyday_mistakes_end_in_one_line(capsys, argv, needles):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    _one_line_error(err, *needles)


def test_rule_file_that_is_a_folder_or_binary_or_repeats_a_key(tmp_path, capsys):
    folder = tmp_path / "dir.rule"
    folder.mkdir()
    binary = tmp_path / "bin.rule"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    twice = tmp_path / "twice.rule"
    twice.write_text("velocity = -grad\nvelocity = -2 * grad\n")
    for path, needle in [(folder, "is not a file"), (binary, "not a text file"), (twice, "a second 'velocity'")]:
        code, _, err = _run(capsys, "rules", "--file", str(path))
        assert code == 2
        _one_line_error(err, needle)


@pytest.mark.parametrize("text, needle", [
    ("grad / 0", "division by zero"),
    ("grad / q", "0 when q = 0"),
    ("grad ** 0.5", "square, symmetric PSD"),
    ("pinv(W) @ grad", "square, symmetric PSD"),
    ("pinv(G @ A) @ grad", "shape mismatch"),
    ("grad * 1e999", "not finite"),
])
def test_rule_parser_rejects_what_cannot_run(text, needle):
    with pytest.raises(cs.RuleParseError, match=needle):
        parse_rule(text)


def test_the_shipped_example_rule_file_is_the_half_block_rule():
    import sympy as sp
    rule = load_rule_file("examples/half_block.rule")
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    inst = cs.problems.conditioned_instance(cs.chain([3, 3, 3]), seed=1)
    m = cs.model(cs.chain([3, 3, 3]))
    a = cs.generate_flow(rule.flow(m))(inst.weights, *inst.data())
    b = cs.generate_flow(cs.rules.kfac(q=sp.Rational(1, 2), strict=False).flow(m))(inst.weights, *inst.data())
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def test_rules_help_documents_the_file_format(capsys):
    with pytest.raises(SystemExit):
        main(["rules", "--help"])
    out = capsys.readouterr().out
    assert "velocity = -power(G, -q) @ grad @ power(A, -q)" in out and "parsed without eval" in out


def test_version(capsys):
    code, out, _ = _run(capsys, "--version")  # answered before any parser is built: a return, not argparse's exit
    assert code == 0 and out.strip() == f"curvsym {cs.__version__}"


def test_numpy_integer_widths_are_accepted():
    net = cs.chain([np.int64(2), np.int32(3), 2])
    assert net.n_in == 2 and isinstance(net.widths[1], int) and net.depth == 2


def test_broken_and_slow_theorem_files_are_rows_not_crashes(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("def oops(:\n    pass\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "slow.py").write_text(textwrap.dedent('''
        import time
        import curvsym as cs
        from curvsym.checks import CheckResult

        @cs.theorem("a slow claim", "demo", digits=16)
        def slow(digits):
            time.sleep(30)

        @cs.theorem("a quick claim", "demo", digits=16)
        def quick(digits):
            return cs.Evidence("n/a", CheckResult("claim", 0.0, 1e-10, True),
                               CheckResult("control", 1.0, 1e-10, False))
    '''))
    code, out, _ = _run(capsys, "prove", str(tmp_path), "-q", "--timeout", "1", "--jobs", "1")
    assert code == 1
    rows = {ln.rsplit("  ", 1)[-1].strip(): ln for ln in out.splitlines() if ln.startswith(("PASS", "ERROR", "TIMEOUT"))}
    assert rows["broken.py (not importable)"].startswith("ERROR") and "SyntaxError in" in out and "broken.py:1" in out
    assert rows["a slow claim"].startswith("TIMEOUT") and rows["a quick claim"].startswith("PASS")
    assert "1/3 theorems passed" in out


def test_parallel_prove_keeps_the_order_and_the_verdicts(capsys):
    code, out, _ = _run(capsys, "prove", "proofs/", "-q", "-k", "coupled", "--jobs", "2")
    assert code == 0 and "1/1 theorems passed" in out


def test_derive_prints_named_intermediates_and_handles_200_layers():
    run = subprocess.run([sys.executable, "-m", "curvsym", "derive", ",".join(["2"] * 201), "--whitened"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("% chain, depth N=200")
    assert any(ln.startswith(r"\dot{W_{200}} &=") for ln in lines) and "M_{200}" not in run.stdout
    assert sum(ln.startswith("M_{") for ln in lines) == 198  # M_2 = W_2 W_1 … M_199; M_200 is W


def test_derive_code_only(capsys):
    code, out, _ = _run(capsys, "derive", "2,3,2", "--no-latex")
    assert code == 0 and "begin{aligned}" not in out and "def gradient_flow(W_1, W_2, Sigma_x, T, xp=np)" in out


def test_quiet_dask_until_exit_keeps_dask_quiet_after_a_cluster_starts():
    """Dask's log lines are not curvsym's output (bench, sweep): the levels stay raised for the whole
    process, also across a LocalCluster's own start and close (the old version restored them at once)."""
    import subprocess
    import sys
    code = ("import logging\n"
            "from curvsym.sweep.quiet import quiet_dask_until_exit\n"
            "from curvsym.sweep.engine import local_cluster\n"
            "quiet_dask_until_exit()\n"
            "c = local_cluster(1); c.close()\n"
            "print(logging.getLogger('distributed').level > logging.CRITICAL)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.stdout.strip() == "True" and "distributed." not in out.stderr, out.stderr[-2000:]


def test_rules_show_says_why_a_law_is_undefined_at_the_widths(capsys, monkeypatch):
    """K-FAC at 2-3-2: W₁ΣxW₁ᵀ is 3 × 3 of rank 2 at every point, so the strict rule is undefined there — said
    with the reason, not reported as an unresolved law; at 2-2-2 the law is refuted.  A NaN at a drawn point
    is an error, never "no counterexample"."""
    from curvsym.verify import identities
    code, out, _ = _run(capsys, "rules", "--show", "kfac")
    last = out.strip().splitlines()[-1]
    assert code == 0 and "C_1: undefined at these widths (the preconditioner" in last and "rank 2" in last
    assert "unresolved" not in last
    code, out, _ = _run(capsys, "rules", "--show", "kfac", "--widths", "2,2,2")
    assert code == 0 and "C_1: not conserved" in out.strip().splitlines()[-1]
    m = cs.model(cs.chain([2, 2, 2]))

    class NaNs:
        parameters = ()

        def __call__(self, state, *data, **params):
            return [np.full((2, 2), np.nan)]
    monkeypatch.setattr(identities, "generate_expressions", lambda *a, **k: NaNs())
    with pytest.raises(cs.NonFiniteError, match="not finite"):
        identities.counterexample(m, [m.weights[0]])
    [proof] = identities.prove_conserved(cs.rules.kfac().flow(m))
    assert proof.status == "undefined" and "not finite" in proof.reason


def test_rules_show_refutes_balance_for_rules_with_memory(capsys):
    """Heavy ball does not conserve C_i (C̈ + γĊ is a velocity term): the auxiliary state is drawn and the law
    refuted with its evidence; a memoryless rule (gd) still proves it."""
    from curvsym.verify.identities import prove_conserved
    code, out, _ = _run(capsys, "rules", "--show", "heavy-ball")
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("% balance C_i conserved (exact): C_1: not conserved (dC_1/dt = ")
    assert "unresolved" not in last and "≠ 0" in last and "auxiliary state V_1, V_2 enters it" in last
    for letter in ("V_1*W_1^T", "W_2^T*V_2"):  # dC_1/dt = −V_1W_1ᵀ − W_1V_1ᵀ + V_2ᵀW_2 + W_2ᵀV_2
        assert letter in last
    code, out, _ = _run(capsys, "rules", "--show", "adam")
    assert code == 0 and "C_1: not conserved (dC_1/dt ≠ 0" in out and "unresolved" not in out
    code, out, _ = _run(capsys, "rules", "--show", "gd")
    assert code == 0 and out.strip().splitlines()[-1] == "% balance C_i conserved (exact): C_1: yes"
    m = cs.model(cs.chain([2, 3, 2]))
    for rule in (cs.rules.heavy_ball(), cs.rules.nesterov(), cs.rules.rmsprop(), cs.rules.adam()):
        (proof,) = prove_conserved(rule.flow(m))
        assert proof.status == "refuted" and proof.counterexample > 0.1, rule.name
