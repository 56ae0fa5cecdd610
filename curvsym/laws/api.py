r"""``cs.laws(flow)``: what a learning rule conserves, all of it, and the certificate that there is no more.

1. The **certificate** (:mod:`.lie`): r = dim Lie(𝒱)(θ) at a random point, exact in
   GF(p) when the flow is a rational function of the weights, else at high
   precision (mpmath); D − r bounds the number of independent laws from above
   (certain, exact case) and equals it once the bracket chain has stabilised
   (probability of a miss ≤ the stated Schwartz–Zippel bound).
2. The **search** (:mod:`.search`): polynomial laws in the entries up to ``degree``,
   matrix laws Σ a_w w over closed words (every width, proved in the free algebra),
   and products of determinants for rules with inverses.  Laws are kept greedily
   when their gradients raise the rank at a random point: the count is of
   *functionally independent* laws, a certain lower bound.
3. The **verdict**: found k, maximum D − r: "complete" when k = D − r (a proof, not a
   probability, in the exact case).
4. Each law is confirmed numerically along a 50-digit trajectory (Gragg–Bulirsch–Stoer extrapolation).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import mpmath
import numpy as np
import sympy as sp

from ..errors import IntegrationError, OptionError
from ..symbolic.derive import Flow
from ..symbolic.matfuncs import OperatorInvPower, PsdInvPower
from .arith import GF, MP, PRIME, Jet, NotExactError
from .fields import FlowField, _Evaluator, split
from .lie import LieRank, lie_rank
from .search import Law, entry_laws, entry_symbols, law_gradients, logdet_laws, mixed_laws, word_gradients, word_laws

__all__ = ["LawReport", "laws", "step_laws"]


@dataclass
class LawReport:
    """Laws found, their count, the certificate and the verdict (``str(report)`` prints them all)."""

    flow: str
    architecture: str
    D: int
    degree: int
    laws: list[Law]
    found: int                       # functionally independent laws found (rank of their gradients)
    certificate: LieRank | None
    arithmetic: str
    searched: list[str]
    confirmed: float | None = None   # max |h(θ(t)) − h(θ(0))| / (1 + |h(θ(0))|) along a 50-digit trajectory
    notes: list[str] = field(default_factory=list)

    @property
    def maximum(self) -> int | None:
        return None if self.certificate is None else self.certificate.max_laws

    @property
    def complete(self) -> bool:
        return self.maximum is not None and self.found == self.maximum

    @property
    def verdict(self) -> str:
        c = self.certificate
        if c is None:
            return f"found {self.found} laws; no certificate (a step map, not a flow)"
        how = "" if c.exact else " (high-precision rank, not exact)"
        if self.complete:
            return f"found {self.found} laws; the maximum is {self.maximum}: complete{how}"
        if c.stabilised:
            return (f"found {self.found}; {self.maximum} > {self.found} exist{how}: laws of higher degree "
                    "or non-polynomial ones")
        return f"found {self.found}; at most {self.maximum} (the bracket chain did not stabilise){how}"

    def as_dict(self) -> dict:
        c = self.certificate
        return {
            "flow": self.flow, "architecture": self.architecture, "D": self.D, "degree": self.degree,
            "found": self.found, "maximum": self.maximum, "complete": self.complete, "verdict": self.verdict,
            "arithmetic": self.arithmetic, "searched": self.searched,
            "confirmed_drift": None if self.confirmed is None else float(self.confirmed),
            "certificate": None if c is None else {
                "rank": c.rank, "ranks_by_bracket_length": c.ranks, "stabilised": c.stabilised, "exact": c.exact,
                "arithmetic": c.arithmetic, "failure_probability_bound": c.failure_bound,
                "singular_value_spread": c.spread},
            "laws": [law.as_dict() for law in self.laws], "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def __str__(self) -> str:
        lines = [f"{self.flow} on {self.architecture}: D = {self.D} parameters, ansatz degree ≤ {self.degree}"]
        for i, law in enumerate(self.laws, 1):
            many = f"{law.independent} independent entries; " if law.independent > 1 else ""
            lines.append(f"  h{i} = {law.text}    [{law.kind}, degree {law.degree}; {many}{law.proof}]")
        c = self.certificate
        if c is not None:
            prob = f", P(missed rank) ≤ {c.failure_bound:.1e}" if c.failure_bound is not None else (
                f", kept singular values down to {c.spread:.1e}·σ₁ (rank threshold 1e-{c_digits(c)}·σ₁)"
                if c.spread is not None else "")
            lines.append(f"certificate: dim Lie(V)(θ) = {c.rank} (by bracket length: {c.ranks}; "
                         f"{'stabilised' if c.stabilised else 'not stabilised'}) in {c.arithmetic}{prob}")
        if self.confirmed is not None:
            lines.append(f"confirmed along a 50-digit trajectory: max drift {mpmath.nstr(self.confirmed, 3)}")
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)


def c_digits(c: LieRank) -> int:
    return int(c.arithmetic.split(",")[1].split()[0]) // 3 if "," in c.arithmetic else 0


def _exact(flow: Flow, parameters) -> bool:
    F = FlowField(flow, GF(), parameters)
    rng = random.Random(12345)
    for _ in range(3):
        pt = F.sample_point(rng)
        try:
            F(F.theta(pt), F.sample_data(rng), pt)
            return True
        except NotExactError as exc:
            if "kink" not in str(exc):
                return False
    return False


def _has_inverse(flow: Flow) -> bool:
    return any(isinstance(n, (PsdInvPower, OperatorInvPower)) or isinstance(n, sp.Inverse)
               for v in flow.velocities for n in sp.preorder_traversal(v))


def laws(flow: Flow, degree: int = 4, *, ansatz: str = "auto", seed: int = 0, digits: int = 60,
         parameters: dict | None = None, max_length: int = 4, max_unknowns: int = 4000, confirm: bool = True,
         prime: int = PRIME, progress: Callable[[str], None] | None = None) -> LawReport:
    """Find the conservation laws of ``flow`` up to ``degree`` and certify how many exist.

    ``ansatz``: ``"auto"`` (entries where the monomial count allows, closed words, determinants for rules with
    inverses), ``"entries"``, ``"words"``.  ``parameters``: values for the flow's free scalars (damping λ, q).

    Raises:
        OptionError: degree < 1, an unknown ansatz, or free parameters without values.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise OptionError(f"the degree of the ansatz must be an integer ≥ 1, got {degree!r}")
    if ansatz not in ("auto", "entries", "words"):
        raise OptionError(f"ansatz must be 'auto', 'entries' or 'words', got {ansatz!r}")
    say = progress or (lambda s: None)
    exact = _exact(flow, parameters)
    G = FlowField(flow, GF(prime), parameters)                # entries and words are polynomial: always exact
    ring = G.ring if exact else MP(digits)
    F = G if exact else FlowField(flow, ring, parameters)
    arithmetic = f"exact, {G.ring.name}" if exact else f"{ring.name} (the rule is not rational in the weights)"
    say(f"{flow.name}: D = {G.D}; arithmetic: {arithmetic}")
    notes: list[str] = []
    with mpmath.workdps(digits):
        cert = lie_rank(F, seed=seed, max_length=max_length, progress=say)
        if F.has_activation:
            # the count of a ReLU-type net depends on the activation region of θ: a unit dead for every input
            # freezes its weights (extra, trivial laws).  The generic region is the one of largest rank.
            for s in range(seed + 1, seed + 6):
                other = lie_rank(F, seed=s, max_length=max_length)
                cert = other if other.rank > cert.rank else cert
            notes.append("piecewise-linear activation: the certificate is for the activation region of largest "
                         "Lie rank among 6 random points (units dead for every input would add trivial laws)")
    rng = random.Random(seed + 1)
    point = G.sample_point(rng)
    found: list[Law] = []
    rows: list = []
    searched: list[str] = []

    have = [0]  # rank of the gradients of the laws kept so far

    def keep(candidates: list[Law]) -> None:
        for law in candidates:
            if "REFUTED" in law.proof:
                notes.append(f"rejected (not conserved): {law.text}")
                continue
            g = word_gradients(G, [law], point) if law.kind == "words" else law_gradients(G, [law], point)
            r = G.ring.rank(np.array(rows + g, dtype=np.int64))
            if r > have[0]:
                law.independent = r - have[0]
                rows[:] = rows + g
                have[0] = r
                found.append(law)

    if ansatz in ("auto", "words"):
        length = degree if degree % 2 == 0 or degree == 1 else degree - 1
        say(f"matrix-level ansatz: closed words of length ≤ {max(length, 2)}")
        keep(word_laws(G, max(length, 2)))
        searched.append(f"closed words of length ≤ {max(length, 2)} (free algebra)")
    done = cert.exact and cert.max_laws == have[0] and ansatz == "auto"  # the words already meet the bound
    if ansatz in ("auto", "entries") and exact and not done:
        for d in range(1, degree + 1):
            try:
                say(f"entry ansatz, degree ≤ {d}")
                new, dim, mono = entry_laws(G, d, seed=seed + 2, max_unknowns=max_unknowns, progress=say)
            except OptionError as exc:
                if ansatz == "entries" and d == 1:
                    raise
                notes.append(f"entry ansatz stopped at degree {d - 1}: {exc}")
                break
            keep(new)
            searched.append(f"entries, degree ≤ {d} ({len(mono)} monomials; space of laws of dimension {dim})")
            if cert.exact and have[0] >= cert.max_laws:
                break
    elif ansatz in ("auto", "entries") and not exact:
        notes.append("entry ansatz skipped: it needs exact arithmetic and this rule is not rational")
    if ansatz == "auto" and exact and _has_inverse(flow) and have[0] < cert.max_laws:
        say("determinant ansatz")
        keep(logdet_laws(G, seed=seed + 3))
        searched.append("products of determinant powers")
        if have[0] < cert.max_laws:
            say("mixed ansatz: log-determinants + polynomials of degree ≤ 2")
            keep(mixed_laws(G, min(degree, 2), seed=seed + 4))
            searched.append("log-determinants + polynomials of degree ≤ 2")
    report = LawReport(flow.name, _describe(flow), G.D, degree, found, have[0], cert, arithmetic, searched, None, notes)
    if confirm and found:
        say("confirming along a 50-digit trajectory")
        try:
            report.confirmed = confirm_along_trajectory(FlowField(flow, MP(50), parameters), found, seed=seed)
        except IntegrationError as exc:
            notes.append(f"no 50-digit confirmation: {exc}")
    return report


def _describe(flow: Flow) -> str:
    return flow.model.network.describe()


# --------------------------------------------------------------------------- numeric confirmation

def law_value(F: FlowField, law: Law, theta: np.ndarray) -> Any:
    """h(θ) at mpmath precision (θ a flat array of mpf)."""
    parts = split(_jet(F, theta), F.shapes)
    if law.kind == "entries":
        fn = law.data.get("mpmath") or law.data.setdefault("mpmath", sp.lambdify(entry_symbols(F), law.expr, "mpmath"))
        return fn(*theta)
    if law.kind == "words":
        H = _Evaluator(F.ring, dict(zip(F.symbols, parts)), None)(law.matrix).primal
        return mpmath.mpf(sum(abs(x) for x in H.ravel()))  # a matrix law: compare entrywise below
    total = mpmath.mpf(0)
    if law.kind == "mixed":
        fn = law.data.get("mpmath") or law.data.setdefault("mpmath", sp.lambdify(entry_symbols(F), law.expr, "mpmath"))
        total += fn(*theta)
    for (text, _, cand), e in zip(law.data["cands"], law.data["exponents"]):
        if e:
            M = cand(parts).primal
            total += e * mpmath.log(abs(mpmath.det(mpmath.matrix(M.tolist()))))
    return total


def _law_vector(F: FlowField, law: Law, theta: np.ndarray) -> list:
    if law.kind == "words":
        parts = split(_jet(F, theta), F.shapes)
        return list(_Evaluator(F.ring, dict(zip(F.symbols, parts)), None)(law.matrix).primal.ravel())
    return [law_value(F, law, theta)]


def _jet(F: FlowField, theta: np.ndarray) -> Jet:
    return Jet.constant(F.ring, np.asarray(theta, dtype=object).reshape(-1, 1))


def gbs_step(f: Callable, y0: np.ndarray, H: Any, levels: int = 16) -> tuple[np.ndarray, Any]:
    """One Gragg–Bulirsch–Stoer step of size H: modified midpoint with n = 2, 4, …, 2·levels substeps,
    Aitken–Neville extrapolation in h²; returns (y(H), the last correction as an error estimate)."""
    table: list = []
    for k in range(1, levels + 1):
        n = 2 * k
        h = H / n
        z0, z1 = y0, y0 + h * f(y0)
        for _ in range(n - 1):
            z0, z1 = z1, z0 + 2 * h * f(z1)
        row = [(z1 + z0 + h * f(z1)) / 2]
        for j, prev in enumerate(table[-1] if table else []):
            ratio = (mpmath.mpf(n) / (n - 2 * (j + 1))) ** 2
            row.append(row[j] + (row[j] - prev) / (ratio - 1))
        table.append(row)
    err = max(abs(x) for x in (table[-1][-1] - table[-1][-2]))
    return table[-1][-1], err


def confirm_along_trajectory(F: FlowField, found: list[Law], seed: int = 0, t_end: float = 0.05,
                             max_steps: int = 32) -> float:
    """Integrate θ̇ = V(θ; d) at 50 digits (Gragg–Bulirsch–Stoer extrapolation, step halved until the
    extrapolation's last correction is below 10^−digits) over t ∈ [0, min(t_end, 1/‖V(θ₀)‖∞)], and return the
    largest relative drift of any law.  θ₀ is the best of 12 random draws (most entries moving, then the
    slowest); on a stiff draw the span ends where ``max_steps`` tries got to (a law conserved exactly drifts by
    rounding over any span), and a draw with no accurate step at all gives way to the next.

    Raises:
        IntegrationError: no draw took an accurate step within ``max_steps`` tries.
    """
    rng = random.Random(seed + 99)
    digits = F.ring.digits
    with mpmath.workdps(digits + 10):
        candidates = []  # of 12 draws: the most entries moving (dead units move none), then the smallest ‖V(θ₀)‖∞
        for _ in range(12):
            pt, dd = F.sample_point(rng), F.sample_data(rng)
            th = np.concatenate([F.ring.const(w).ravel() for w in pt]) / 2
            try:
                vv = F(_jet(F, th), dd).primal.ravel()
            except ArithmeticError:
                continue
            candidates.append(((-sum(1 for x in vv if x != 0), max(abs(x) for x in vv)), th, dd, vv))
        if not candidates:
            raise IntegrationError("the 50-digit confirmation found no point where the flow is defined", 0.0)
        failure = None
        for _, theta0, d, v0 in sorted(candidates, key=lambda c: c[0]):   # the next draw if one is too stiff
            try:
                theta1 = _gbs_trajectory(F, theta0, d, v0, t_end, max_steps)
            except IntegrationError as exc:
                failure = exc
                continue
            worst = mpmath.mpf(0)
            for law in found:
                a, b = _law_vector(F, law, theta0), _law_vector(F, law, theta1)
                for x, y in zip(a, b):
                    worst = max(worst, abs(x - y) / (1 + abs(x)))
            return worst
        raise failure


def _gbs_trajectory(F: FlowField, theta0: Any, d: Any, v0: Any, t_end: float, max_steps: int) -> Any:
    """θ(T) from θ₀ at the ring's digits by GBS, T = min(t_end, 1/(1 + ‖V(θ₀)‖∞)), or θ at the time reached
    after ``max_steps`` tries (accepted or halved) when the start is too stiff to reach T or the path meets a
    kink (a step that changes the activation pattern is halved: the trajectory stays in θ₀'s region).

    Raises:
        IntegrationError: no accurate step in ``max_steps`` tries.
    """
    digits = F.ring.digits
    f = lambda y: F(_jet(F, y), d).primal.ravel()
    region = F.activation_pattern(_jet(F, theta0), d)
    span = min(mpmath.mpf(t_end), 1 / (1 + max(abs(x) for x in v0)))
    tol = mpmath.mpf(10) ** (-digits)
    t, theta1, H, steps = mpmath.mpf(0), theta0, span, 0
    while t < span:
        H = min(H, span - t)
        y, err = gbs_step(f, theta1, H, 16)
        steps += 1
        if err > tol * (1 + max(abs(x) for x in y)) or F.activation_pattern(_jet(F, y), d) != region:
            H /= 2                      # inaccurate, or across a kink: stay inside θ₀'s activation region
        else:
            t, theta1 = t + H, y
        if steps >= max_steps and t < span:
            if t > 0:
                break                   # a stiff start: the confirmation covers [0, t] (any t > 0 tests a law)
            raise IntegrationError(f"the 50-digit confirmation took no accurate step in {max_steps} tries", 0.0)
    return theta1


# --------------------------------------------------------------------------- discrete steps

def step_laws(flow: Flow, eta: Any = Fraction(1, 10), degree: int = 2, seed: int = 0,
              parameters: dict | None = None) -> dict:
    """Which polynomial laws of degree ≤ ``degree`` the step map θ ↦ θ + ηV(θ) keeps *exactly*, against those of
    the flow (which every such map keeps to O(η²), since h(θ + ηV) − h(θ) = η∇h·V + O(η²)).

    Returns ``{"flow": n_flow, "step": n_step, "eta": η, "laws": [...]}`` (counts of independent laws).

    Raises:
        OptionError: a rule that is not rational in the weights (no exact step law search), or η ≤ 0.
    """
    eta = Fraction(str(eta))
    if eta <= 0:
        raise OptionError(f"the step size η must be > 0, got {eta}")
    if not _exact(flow, parameters):
        raise OptionError(f"{flow.name}: the exact step-law search needs a rule rational in the weights")
    G = FlowField(flow, GF(), parameters)
    flow_laws, _, _ = entry_laws(G, degree, seed=seed + 2)
    step, _, _ = entry_laws(G, degree, seed=seed + 2, step=eta)
    point = G.sample_point(random.Random(seed))
    rk = lambda ls: G.ring.rank(np.array(law_gradients(G, ls, point), dtype=np.int64)) if ls else 0
    return {"flow": rk(flow_laws), "step": rk(step), "eta": str(eta), "laws": [law.text for law in step],
            "order_eta2": rk(flow_laws)}
