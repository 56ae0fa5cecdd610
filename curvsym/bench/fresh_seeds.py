"""Fresh-seed proving: every theorem on n seeds nobody chose, with its pass rate.

``curvsym prove proofs/ --seeds 20`` (optionally ``--seed S`` for the first seed; without it the
first seed is drawn from the operating system and printed, so that nobody chooses it) runs every
theorem once per seed S, S + 1, …, S + n − 1, each seed redrawing every random instance the
theorem uses (:mod:`curvsym.verify.seeds`).  A theorem meets its claim when

* ``kind="exact"``: it passes on every seed (n/n);
* ``kind="statistical"``: its pass rate is at least its stated ``rate``.

The table also gives, for a statistical theorem, the binomial probability of a pass count that
low or lower were the true rate exactly the stated one (small: the stated rate is doubtful).
This is a benchmark-style job (minutes per seed), not a unit test.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import OptionError
from ..verify.theorem import Theorem, TheoremReport, prove

__all__ = ["SeedRow", "seed_sweep", "seed_table", "first_seed"]


@dataclass
class SeedRow:
    """One theorem over the seeds: verdict per seed and whether the claim's rate is met."""

    name: str
    kind: str
    rate: float
    verdicts: dict = field(default_factory=dict)     # seed -> PASS / FAIL / ERROR / TIMEOUT
    residuals: dict = field(default_factory=dict)    # seed -> numeric residual (None without evidence)
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return len(self.verdicts)

    @property
    def passes(self) -> int:
        return sum(v == "PASS" for v in self.verdicts.values())

    @property
    def pass_rate(self) -> float:
        return self.passes / self.n if self.n else math.nan

    @property
    def met(self) -> bool:
        """Exact: every seed passed; statistical: pass rate ≥ the stated rate."""
        if not self.n:
            return False
        return self.passes == self.n if self.kind == "exact" else self.pass_rate >= self.rate

    @property
    def binomial_p(self) -> float:
        """P(passes ≤ observed | each seed passes with probability ``rate``)."""
        n, k, p = self.n, self.passes, self.rate
        return float(sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k + 1)))

    def as_dict(self) -> dict:
        return {"theorem": self.name, "kind": self.kind, "rate": self.rate, "passes": self.passes, "n": self.n,
                "pass_rate": self.pass_rate, "met": self.met, "binomial_p": self.binomial_p,
                "verdicts": {str(k): v for k, v in self.verdicts.items()},
                "residuals": {str(k): v for k, v in self.residuals.items()}, "seconds": round(self.seconds, 1)}


def first_seed() -> int:
    """A first seed drawn from the operating system (nobody chooses it; print it to reproduce)."""
    return secrets.randbelow(2 ** 31)


def seed_sweep(theorems: Sequence[Theorem], n: int, first: int, digits: int | None = None,
               timeout: float | None = None, jobs: int = 1,
               on_seed: Callable[[int, list[TheoremReport]], None] | None = None,
               run: Callable[..., list[TheoremReport]] = prove) -> list[SeedRow]:
    """Run every theorem on seeds ``first … first + n − 1``; one :class:`SeedRow` per theorem, in order.

    ``theorems``: :class:`Theorem` objects, or anything with ``name``, ``kind`` and ``rate`` that ``run``
    accepts (the CLI passes the references of :mod:`curvsym.verify.theorem_process` with
    :func:`~curvsym.verify.theorem_process.prove_isolated`); ``run(theorems, digits, timeout, jobs, seed=…)``.

    Raises:
        OptionError: n < 1 or a negative first seed.
    """
    if n < 1 or first < 0:
        raise OptionError(f"need n ≥ 1 seeds from a non-negative first seed, got n = {n}, first = {first}")
    rows = [SeedRow(th.name, th.kind, th.rate) for th in theorems]
    for seed in range(first, first + n):
        reports = run(theorems, digits, timeout, jobs, seed=seed)
        for row, rep in zip(rows, reports):
            row.verdicts[seed] = rep.verdict
            row.residuals[seed] = None if rep.evidence is None else rep.evidence.numeric.residual
            row.seconds += rep.seconds
        if on_seed is not None:
            on_seed(seed, reports)
    return rows


def seed_table(rows: Sequence[SeedRow], first: int) -> str:
    """Pass rate per theorem against its kind and stated rate, then the seeds that failed."""
    head = ("theorem", "kind", "claimed", "passed", "rate", "P(≤ obs.)", "claim met")
    body = []
    for r in rows:
        claimed = "every seed" if r.kind == "exact" else f"≥ {r.rate:.0%}"
        p = "—" if r.kind == "exact" else f"{r.binomial_p:.2f}"
        body.append((r.name, r.kind, claimed, f"{r.passes}/{r.n}", f"{r.pass_rate:.0%}", p,
                     "yes" if r.met else "NO"))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    n = rows[0].n if rows else 0
    out = [f"fresh seeds {first} … {first + n - 1} ({n} per theorem; every random instance redrawn from each)",
           line(head), line("-" * w for w in widths)] + [line(b) for b in body]
    out.append(f"\n{sum(r.met for r in rows)}/{len(rows)} theorems meet their claimed rate")
    for r in rows:
        bad = [f"{s}: {v}" for s, v in r.verdicts.items() if v != "PASS"]
        if bad:
            out.append(f"  {r.name}: " + ", ".join(bad))
    return "\n".join(out)
