"""docs/mathematics.md is the single source of every theorem's claim.

Every theorem in proofs/ names a section (``@theorem(…, section="§x.y")``) that exists and names its
file; every theorem file the page names exists; every "docs/mathematics.md §x.y" a theorem file
cites exists.  :func:`problems` does the checking, so that the tests below can also show it fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from curvsym.verify.theorem import Theorem, discover

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "mathematics.md"
PROOFS = ROOT / "proofs"
HEADING = re.compile(r"^(#{2,3}) (\d+(?:\.\d+)?)\.? ", re.M)
CITED = re.compile(r"docs/mathematics\.md((?:[ ,;]*(?:and )?§\d+(?:\.\d+)?)+)")


def sections(text: str) -> dict[str, str]:
    """'§x.y' (and '§x' for chapters) → the text of that section, up to the next heading of its level or above."""
    heads = [(m.start(), len(m.group(1)), m.group(2)) for m in HEADING.finditer(text)]
    out = {}
    for k, (start, level, number) in enumerate(heads):
        end = next((s for s, lv, _ in heads[k + 1:] if lv <= level), len(text))
        out[f"§{number}"] = text[start:end]
    return out


def problems(theorems: list[Theorem], text: str, proofs: Path) -> list[str]:
    """Everything that breaks the rule 'the page states every theorem', one line each."""
    secs = sections(text)
    found = []
    for th in theorems:
        name = Path(th.source).name
        if not th.section:
            found.append(f"{name}: theorem {th.name!r} cites no section")
        elif th.section not in secs:
            found.append(f"{name}: theorem {th.name!r} cites {th.section}, which the page does not have")
        elif f"proofs/{name}" not in secs[th.section]:
            found.append(f"{name}: {th.section} does not name proofs/{name}")
        source = Path(th.source).read_text() if Path(th.source).exists() else ""
        for group in CITED.findall(source):
            for sec in re.findall(r"§\d+(?:\.\d+)?", group):
                if sec not in secs:
                    found.append(f"{name}: its text cites docs/mathematics.md {sec}, which the page does not have")
    for number, body in secs.items():
        for f in sorted(set(re.findall(r"proofs/(\w+\.py)", body))):
            if not (proofs / f).exists():
                found.append(f"{number} names proofs/{f}, which is gone")
    return sorted(set(found))


@pytest.fixture(scope="module")
def theorems():
    return discover([PROOFS])


def test_every_theorem_cites_a_section_that_states_it(theorems):
    assert len(theorems) >= 25
    assert problems(theorems, PAGE.read_text(), PROOFS) == []


def test_every_theorem_declares_its_kind_and_statistical_ones_their_rate(theorems):
    for th in theorems:
        assert th.kind in ("exact", "statistical")
        assert (th.rate == 1.0) if th.kind == "exact" else (0 < th.rate < 1)
    assert {th.name for th in theorems if th.kind == "statistical"} >= {
        "glass residual at initialisation: exponent about 3/2, within 2× of the walk (≥ 75 % of inits)"}


def test_the_check_fails_on_a_missing_section_and_on_a_file_that_is_gone(theorems, tmp_path):
    text = PAGE.read_text()
    th = next(t for t in theorems if Path(t.source).name == "gd_gf_envelope.py")
    moved = Theorem(th.name, th.statement, th.func, source=th.source, section="§5.9")
    assert problems([moved], text, PROOFS) == [
        "gd_gf_envelope.py: theorem 'GD below the Elkabetz–Cohen envelope' cites §5.9, which the page does not have"]
    unnamed = Theorem(th.name, th.statement, th.func, source=th.source, section="§5.2")
    assert problems([unnamed], text, PROOFS) == ["gd_gf_envelope.py: §5.2 does not name proofs/gd_gf_envelope.py"]
    assert "cites no section" in problems([Theorem(th.name, th.statement, th.func, source=th.source)], text,
                                          PROOFS)[0]
    gone = text.replace("### 5.7 Proposition 1", "Checked in proofs/retired_theorem.py.\n\n### 5.7 Proposition 1")
    assert problems([], gone, PROOFS) == ["§5 names proofs/retired_theorem.py, which is gone",   # the chapter
                                          "§5.6 names proofs/retired_theorem.py, which is gone"]


def test_sections_are_split_at_their_own_level():
    text = "## 1. A\nintro\n### 1.1 B\nb text\n### 1.2 C\nc text\n## 2. D\nd\n"
    s = sections(text)
    assert set(s) == {"§1", "§1.1", "§1.2", "§2"}
    assert "c text" in s["§1"] and "c text" not in s["§1.1"] and "d" not in s["§1.2"].split("\n", 1)[1]
