"""Fresh-seed proving: the seed context, the theorem kinds, ``prove --seed`` and the pass-rate job."""

from __future__ import annotations

import pathlib
import re
import textwrap

import pytest

from curvsym.bench.fresh_seeds import SeedRow, seed_sweep, seed_table
from curvsym.cli import main
from curvsym.errors import TheoremFileError
from curvsym.verify import seeds
from curvsym.verify.theorem import discover, prove, run_theorem, theorem


def test_shipped_seeds_are_the_default_and_a_run_seed_redraws_them_reproducibly():
    assert seeds.pick(7) == 7 and seeds.current() is None and not seeds.fresh()
    with seeds.using(3):
        a, b, c = seeds.pick(7), seeds.pick(8), seeds.pick(7, salt=1)
        assert seeds.fresh() and seeds.current() == 3
        assert len({a, b, c, 7, 8}) == 5                       # redrawn, and independent of each other
        with seeds.using(None):
            assert seeds.pick(7) == 7                          # None: the shipped instances again
        assert seeds.rng(7).standard_normal() == seeds.rng(7).standard_normal()
    with seeds.using(3):
        assert seeds.pick(7) == a                              # reproducible from the run seed alone
    with seeds.using(4):
        assert seeds.pick(7) != a
    assert seeds.pick(7) == 7
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError):
            with seeds.using(bad):
                pass


_FIXED_SEED = re.compile(r"(?:seed\s*=\s*|default_rng\(\s*|random\.Random\(\s*)\d")
_DRAWS = re.compile(r"seeds\.(?:pick|rng)\(")


def test_every_shipped_theorem_draws_its_instances_through_the_seed_context():
    """A literal seed in a theorem file would survive ``--seed S`` unchanged: the instance would be chosen."""
    root = pathlib.Path(__file__).resolve().parents[2] / "proofs"
    offenders, drawing = [], 0
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.name}: {line.strip()}" for line in text.splitlines()
                      if _FIXED_SEED.search(line) and not line.lstrip().startswith("def ")]   # a default is not a draw
        offenders += [f"{path.name}: cs.laws without seed=" for line in text.splitlines()
                      if "cs.laws(" in line and "seed=" not in line]
        drawing += bool(_DRAWS.search(text))
    assert not offenders, offenders
    assert drawing >= 30                                       # nearly every theorem draws through the context


def test_theorems_declare_exact_or_statistical_with_a_rate():
    with pytest.raises(TheoremFileError, match="kind must be"):
        theorem("t", "s", kind="probable")
    with pytest.raises(TheoremFileError, match="states its rate"):
        theorem("t", "s", kind="statistical")
    with pytest.raises(TheoremFileError, match="every seed"):
        theorem("t", "s", rate=0.5)
    th = theorem("t", "s", kind="statistical", rate=0.8, section="§0.3")(lambda digits: None)
    assert (th.kind, th.rate, th.section) == ("statistical", 0.8, "§0.3")


FILE = textwrap.dedent('''
    import curvsym as cs
    from curvsym.checks import CheckResult
    from curvsym.verify import seeds

    def _evidence(ok):
        return cs.Evidence("n/a", CheckResult("c", 0.0 if ok else 1.0, 0.5, ok, {"seed": seeds.pick(5)}),
                           CheckResult("control", 1.0, 0.5, False))

    @cs.theorem("even draw", "the drawn seed is even (exact: false)")
    def even(digits):
        return _evidence(seeds.pick(5) % 2 == 0)

    @cs.theorem("even draw, half the time", "the drawn seed is even with probability 1/2", kind="statistical",
                rate=0.25)
    def even_stat(digits):
        return _evidence(seeds.pick(5) % 2 == 0)

    @cs.theorem("always", "true on every seed")
    def always(digits):
        return _evidence(True)
''')


@pytest.fixture()
def toy(tmp_path):
    f = tmp_path / "toy.py"
    f.write_text(FILE)
    return f


def test_the_seed_reaches_the_theorem_in_process_and_in_workers(toy):
    ths = discover([toy])
    rep = run_theorem(ths[0], seed=11)
    assert rep.seed == 11 and rep.evidence.numeric.details["seed"] == seeds.derive(11, 5)
    assert run_theorem(ths[0]).evidence.numeric.details["seed"] == 5 and run_theorem(ths[0]).passed is False
    reps = prove(ths, jobs=2, seed=11)
    assert [r.evidence.numeric.details["seed"] for r in reps] == [seeds.derive(11, 5)] * 3
    assert reps[0].as_dict()["seed"] == 11


def test_the_pass_rate_job_judges_exact_and_statistical_claims(toy):
    ths = discover([toy])
    rows = seed_sweep(ths, 12, 100)
    expected = sum(seeds.derive(s, 5) % 2 == 0 for s in range(100, 112))
    assert 0 < expected < 12                                   # both parities occur on these seeds
    even, stat, always = rows
    assert even.passes == stat.passes == expected and always.passes == 12
    assert not even.met                                        # exact: one failing seed refutes it
    assert stat.met == (expected / 12 >= 0.25) and always.met
    text = seed_table(rows, 100)
    assert "fresh seeds 100 … 111" in text and f"{expected}/12" in text and "every seed" in text
    assert SeedRow("x", "statistical", 0.5, {1: "PASS", 2: "FAIL"}).binomial_p == pytest.approx(0.75)


def test_prove_seed_and_seeds_on_the_command_line(toy, tmp_path, capsys):
    assert main(["prove", str(toy), "-k", "always", "--seed", "7", "-j", "1", "-q"]) == 0
    assert "redrawn from seed 7" in capsys.readouterr().out
    out = tmp_path / "s.json"
    assert main(["prove", str(toy), "-k", "draw", "--seeds", "6", "--seed", "40", "-j", "1", "-q",
                 "--json", str(out)]) == 1                     # the exact parity claim fails on some seed
    text = capsys.readouterr().out
    assert "fresh seeds from 40" in text and "theorems meet their claimed rate" in text
    assert main(["prove", str(toy), "-k", "always", "--seeds", "3", "-j", "1", "-q"]) == 0
    assert main(["prove", str(toy), "-k", "draw", "--seeds", "6", "--seed", "40", "-j", "1"]) == 1
    progress = capsys.readouterr().err                         # each seed's line names what did not pass
    failing = [s for s in range(40, 46) if seeds.derive(s, 5) % 2]
    assert failing and all(f"… seed {s}: " in progress for s in range(40, 46))
    assert progress.count("not passed: ") == len(failing) and "(FAIL)" in progress
    with pytest.raises(SystemExit) as exc:
        main(["prove", str(toy), "--seed", "-2"])
    assert exc.value.code == 2 and "--seed must be a non-negative integer" in capsys.readouterr().err


def test_draw_until_checks_a_hypothesis_on_each_fresh_draw():
    """Shipped: one draw, the shipped instance (a shipped instance failing its own hypothesis raises); fresh: the
    first draw pick(shipped, k) that satisfies it, with the draw count."""
    from curvsym.errors import CurvsymError

    assert seeds.draw_until(lambda s: s, lambda s: True, 7) == (7, 1)
    with pytest.raises(CurvsymError, match="1 draw"):
        seeds.draw_until(lambda s: s, lambda s: s % 2 == 0, 7)
    with seeds.using(3):
        odd = [k for k in range(20) if seeds.pick(7, k) % 2]
        got, draws = seeds.draw_until(lambda s: s, lambda s: s % 2 == 1, 7)
        assert got == seeds.pick(7, odd[0]) and draws == odd[0] + 1
        with pytest.raises(CurvsymError, match="20 draw"):
            seeds.draw_until(lambda s: s, lambda s: False, 7)
