r"""Finding the polynomial (and log-determinant) conservation laws of a flow: exact linear algebra.

Three ansätze, each a linear system whose unknowns are coefficients:

``entries``  h = Σ_α c_α θ^α over all monomials of degree 1…k in the D entries.
             dh/dt = Σ_α c_α ∇θ^α·V(θ; d) ≡ 0 is sampled at random integer points
             (θ, d) in GF(p): one equation per point, ``extra`` more than unknowns.
             The null space of the sampled system contains the true one; it is
             equal unless a non-zero polynomial of degree ≤ k − 1 + deg V vanished
             at every extra point (Schwartz–Zippel).  Coefficients are lifted to ℚ
             by rational reconstruction and each law is then *proved*: dh/dt is
             expanded as a rational function of symbolic entries and data (SymPy)
             and is 0 (``proof="sympy"``), or, above ``prove_limit`` unknowns,
             re-checked exactly at fresh points (``proof="GF(p) at n points"``).
``words``    H = Σ_w a_w w over the closed walks w of length ≤ k at a node of the
             network graph (products of W_e and W_eᵀ from a node back to itself),
             so H has a meaning at every width.  Σ_w a_w ẇ is expanded in the free
             algebra with involution (:func:`curvsym.symbolic.algebra.noncommutative`)
             and the coefficient of every noncommutative monomial set to 0: an exact
             system over ℚ.  A solution is a law for matrices of *all* sizes.
``mixed``    h = Σ_j a_j log|det M_j| + P(θ), P of degree ≤ 2: both systems side by side (a one-sided
             K-FAC keeps log|det W_{i+1}| − ½‖W_i‖², which neither finds alone).
``logdet``   h = Σ_j a_j log|det M_j| over square weights (and Gram words W_eW_eᵀ, W_eᵀW_e of
             the others): dh/dt = Σ_j a_j tr(M_j⁻¹Ṁ_j) ≡ 0, linear in a, sampled in
             GF(p) as above.  This is how K-FAC's det W_{i+1}/det W_i comes out without
             being typed: its velocities contain inverses, and their determinants are
             the candidates.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np
import sympy as sp
from sympy import Identity, MatAdd, MatMul, Matrix, MatrixSymbol, Transpose, ZeroMatrix

from ..errors import OptionError
from ..symbolic.algebra import noncommutative
from ..symbolic.calculus import time_derivative
from ..symbolic.matfuncs import PsdInvPower, SqrtPsd
from ..symbolic.network import IDENTITY
from .arith import GF, Jet, NotExactError
from .fields import FlowField, _Evaluator, split
from .lie import jvp

__all__ = ["Law", "monomials", "entry_laws", "word_laws", "logdet_laws", "mixed_laws", "rational", "closed_walks"]


@dataclass
class Law:
    """One conservation law: its kind, readable forms and how to evaluate it (exactly and at mp precision)."""

    kind: str                     # "entries", "words", "logdet"
    text: str
    latex: str
    proof: str                    # how dh/dt ≡ 0 was established
    degree: int
    expr: sp.Expr | None = None   # scalar SymPy form in the entry symbols (entries, logdet)
    matrix: sp.Expr | None = None  # matrix form (words)
    data: dict = field(default_factory=dict, repr=False)
    independent: int = 1          # how many independent scalar laws it adds (the entries of a matrix law)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "latex": self.latex, "proof": self.proof,
                "degree": self.degree, "independent": self.independent}


def rational(x: int, p: int) -> Fraction:
    """The fraction a/b with |a|, b ≤ √(p/2) congruent to x mod p (Wang's rational reconstruction).

    Raises:
        NotExactError: no such fraction (the coefficient is not small).
    """
    bound = int((p // 2) ** 0.5)
    r0, r1, s0, s1 = p, x % p, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, s0, s1 = r1, r0 - q * r1, s1, s0 - q * s1
    if s1 == 0 or abs(s1) > bound:
        raise NotExactError(f"{x} mod {p} is not a small fraction")
    return Fraction(r1, s1) if s1 > 0 else Fraction(-r1, -s1)


def entry_symbols(F: FlowField) -> list[sp.Symbol]:
    """One real symbol per coordinate of θ, named like the matrix entry: ``W_1[0,1]``."""
    out = []
    for w, (a, b) in zip(F.symbols, F.shapes):
        out += [sp.Symbol(f"{w.name}[{i},{j}]", real=True) for i in range(a) for j in range(b)]
    return out


def monomials(D: int, degree: int) -> np.ndarray:
    """All monomials of degree 1…``degree`` in D variables, as rows of variable indices padded with D."""
    rows = [tuple(c) + (D,) * (degree - d) for d in range(1, degree + 1)
            for c in itertools.combinations_with_replacement(range(D), d)]
    return np.array(rows, dtype=np.int64).reshape(-1, degree)


def _monomial_rows(ring: GF, mono: np.ndarray, theta: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """∇θ^α · V for every monomial α (padding index D has θ = 1, V = 0), mod p."""
    p = ring.p
    th = np.append(theta % p, 1)
    vv = np.append(vel % p, 0)
    k = mono.shape[1]
    out = np.zeros(mono.shape[0], dtype=np.int64)
    for j in range(k):
        term = vv[mono[:, j]]
        for l in range(k):
            if l != j:
                term = term * th[mono[:, l]] % p
        out = (out + term) % p
    return out


def _monomial_values(ring: GF, mono: np.ndarray, theta: np.ndarray) -> np.ndarray:
    th = np.append(theta % ring.p, 1)
    out = np.ones(mono.shape[0], dtype=np.int64)
    for j in range(mono.shape[1]):
        out = out * th[mono[:, j]] % ring.p
    return out


def _sample(F: FlowField, rng: random.Random):
    """A random integer point, random data, and V there (mod p); resampled at a ReLU kink."""
    for _ in range(20):
        pt, d = F.sample_point(rng), F.sample_data(rng)
        try:
            v = F(F.theta(pt), d, pt).primal.ravel()
        except ArithmeticError:
            continue
        return pt, d, v
    raise NotExactError("no regular point found in 20 draws")


def _flat(F: FlowField, pt) -> np.ndarray:
    return np.concatenate([F.ring.const(w).ravel() for w in pt])


def entry_laws(F: FlowField, degree: int, seed: int = 1, extra: int = 12, max_unknowns: int = 5000,
               prove_limit: int = 400, progress: Callable[[str], None] | None = None,
               step: Fraction | None = None) -> tuple[list[Law], int, np.ndarray]:
    """All polynomial laws of degree ≤ ``degree`` in the entries: (laws, dimension, monomials).

    ``step`` = η: laws of the *discrete* gradient step θ ↦ θ + ηV (h(θ + ηV) ≡ h(θ)) instead of the flow.

    Raises:
        OptionError: more than ``max_unknowns`` monomials (use the word ansatz at this size).
    """
    ring = F.ring
    mono = monomials(F.D, degree)
    n = mono.shape[0]
    if n > max_unknowns:
        raise OptionError(f"the entry ansatz of degree {degree} in D = {F.D} entries has {n} unknowns "
                          f"(more than {max_unknowns}); use the word ansatz (ansatz='words') at this size")
    rng = random.Random(seed)
    eta = None if step is None else ring.scalar(step)

    def equations(count: int) -> np.ndarray:
        out = np.zeros((count, n), dtype=np.int64)
        for i in range(count):
            pt, d, v = _sample(F, rng)
            th = _flat(F, pt)
            if eta is None:
                out[i] = _monomial_rows(ring, mono, th, v)
            else:
                out[i] = (_monomial_values(ring, mono, (th + eta * v) % ring.p)
                          - _monomial_values(ring, mono, th)) % ring.p
        return out

    rows = equations(n + extra)
    basis = ring.nullspace(rows)
    while True:  # add ``extra`` equations until the null space stops shrinking (dead units give empty rows)
        rows = np.vstack([rows, equations(extra)])
        more = ring.nullspace(rows)
        if progress:
            progress(f"entry ansatz degree {degree}: {rows.shape[0]} equations, {n} unknowns, null space {more.shape[1]}")
        if more.shape[1] == basis.shape[1]:
            break
        basis = more
    syms = entry_symbols(F)
    padded = syms + [sp.Integer(1)]
    laws = []
    for k in range(basis.shape[1]):
        coeffs = [rational(int(c), ring.p) for c in basis[:, k]]
        den = sp.ilcm(*[c.denominator for c in coeffs if c])
        expr = sp.Add(*[sp.Integer(int(c * den)) * sp.Mul(*[padded[j] for j in mono[a]])
                        for a, c in enumerate(coeffs) if c])
        deg = max(int(sum(1 for j in mono[a] if j < F.D)) for a, c in enumerate(coeffs) if c)
        laws.append(Law("entries", sp.sstr(expr), sp.latex(expr), "", deg, expr,
                        data={"coeffs": coeffs, "mono": mono}))
    proof = _prove_entries if (n <= prove_limit and step is None) else None
    for law in laws:
        law.proof = proof(F, law, syms) if proof else _recheck(F, law, mono, seed + 7, step)
    return laws, basis.shape[1], mono


def _recheck(F: FlowField, law: Law, mono: np.ndarray, seed: int, step, points: int = 4) -> str:
    """dh/dt (or h(θ + ηV) − h(θ)) with the reconstructed rational coefficients, at fresh points mod p."""
    ring = F.ring
    rng = random.Random(seed)
    c = np.array([ring.scalar(x) for x in law.data["coeffs"]], dtype=object)
    for _ in range(points):
        pt, d, v = _sample(F, rng)
        th = _flat(F, pt)
        if step is None:
            row = _monomial_rows(ring, mono, th, v)
        else:
            eta = ring.scalar(step)
            row = (_monomial_values(ring, mono, (th + eta * v) % ring.p) - _monomial_values(ring, mono, th)) % ring.p
        if int(np.dot(row.astype(object), c)) % ring.p:
            return "REFUTED at a fresh point"
    return f"exact in GF(p) at {points} fresh points (Schwartz–Zippel)"


def symbolic_velocity(F: FlowField, syms: list[sp.Symbol]) -> tuple[list[sp.Expr], list[sp.Symbol]]:
    """V as explicit SymPy rational functions of the entries and of symbolic data (Σx = S², S symmetric)."""
    env, extra = {}, []
    at = 0
    for w, (a, b) in zip(F.symbols, F.shapes):
        env[w] = Matrix(a, b, syms[at:at + a * b])
        at += a * b
    m = F.model
    for s in F.data_symbols:
        a, b = (int(x) for x in s.shape)
        if F.linear and s is m.Sigma:
            S = Matrix(a, a, lambda i, j: sp.Symbol(f"s{min(i, j)}{max(i, j)}", real=True))
            env[s] = S * S
            env[("sqrt", s)] = S
        else:
            env[s] = Matrix(a, b, lambda i, j: sp.Symbol(f"{s.name.lower()}{i}{j}", real=True))
    vel = []
    for v in F.flow.velocities:
        vel += list(_explicit(v, env))
    return vel, extra


def _explicit(x, env):
    """Evaluate a matrix expression on explicit SymPy matrices (rational nodes only)."""
    if isinstance(x, MatrixSymbol):
        return env[x]
    if isinstance(x, Identity):
        return sp.eye(int(x.shape[0]))
    if isinstance(x, ZeroMatrix):
        return sp.zeros(*x.shape)
    if isinstance(x, Transpose):
        return _explicit(x.arg, env).T
    if isinstance(x, MatAdd):
        out = _explicit(x.args[0], env)
        for a in x.args[1:]:
            out = out + _explicit(a, env)
        return out
    if isinstance(x, MatMul):
        coeff, out = sp.Integer(1), None
        for a in x.args:
            if a.is_Matrix:
                v = _explicit(a, env)
                out = v if out is None else out * v
            else:
                coeff *= a
        return coeff * out
    if isinstance(x, SqrtPsd) and ("sqrt", x.X) in env:
        return env[("sqrt", x.X)]
    if isinstance(x, PsdInvPower) and x.q == 1:
        X = _explicit(x.X, env)
        return (X + x.damping * sp.eye(X.shape[0])).inv(method="LU") if x.damping else X.inv(method="LU")
    raise NotExactError(f"no explicit symbolic form for {type(x).__name__}")


def _prove_entries(F: FlowField, law: Law, syms: list[sp.Symbol]) -> str:
    """dh/dt = ∇h·V expanded as a rational function of symbolic entries and data: 0 is a proof at these widths."""
    try:
        vel, _ = symbolic_velocity(F, syms)
    except (NotExactError, KeyError):
        return _recheck(F, law, law.data["mono"], 11, None)
    dh = sum(sp.diff(law.expr, s) * v for s, v in zip(syms, vel))
    num = sp.numer(sp.together(sp.expand(dh)))
    return "proved (SymPy, exact polynomial identity at these widths)" if sp.expand(num) == 0 else "REFUTED (SymPy)"


# --------------------------------------------------------------------------- matrix-level ansatz

def closed_walks(F: FlowField, length: int) -> dict:
    """Closed walks of length ≤ ``length`` at each node: products of W_e (u → v) and W_eᵀ (v → u) from a node
    back to itself, as SymPy matrix products; {node: [word, …]}.  Identity edges (ResNet skips) are steps
    too, with no factor, so that I + A_i and its products appear; the empty word (a constant) is left out."""
    net = F.model.network
    steps: dict = {}
    for e in net.edges:
        w = None if e.kind == IDENTITY else (F.model.symbol_of(e) if F.linear else F.model.weight(e))
        steps.setdefault(e.source, []).append((e.target, w))                                 # W_e: source → target
        steps.setdefault(e.target, []).append((e.source, None if w is None else Transpose(w)))  # W_eᵀ back
    out: dict = {}
    for u in net.order:
        words = []
        frontier = [(u, [])]
        for _ in range(length):
            frontier = [(target, word + [factor]) for node, word in frontier for target, factor in steps.get(node, [])]
            for node, word in frontier:
                factors = [f for f in reversed(word) if f is not None]
                if node == u and factors:
                    words.append(MatMul(*factors, evaluate=False) if len(factors) > 1 else factors[0])
        out[u] = words
    return out


def word_laws(F: FlowField, length: int = 2) -> list[Law]:
    """Matrix laws H = Σ a_w w (closed walks of length ≤ ``length`` at one node) with Σ a_w ẇ = 0 in the free
    algebra: laws for every width (the proof is the expansion itself)."""
    m = F.model
    vel = dict(zip(F.symbols, F.flow.velocities))
    symmetric = [m.Sigma] if F.linear and isinstance(m.Sigma, MatrixSymbol) else []
    laws = []
    for node, words in closed_walks(F, length).items():
        words = _dedupe(words, symmetric)
        if not words:
            continue
        derivs = [noncommutative(time_derivative(w, vel), symmetric) for w in words]
        table: dict = {}
        for j, d in enumerate(derivs):
            for term in sp.Add.make_args(d):
                if term == 0:
                    continue
                c, mono = term.as_coeff_Mul()
                table.setdefault(mono, {})[j] = table.get(mono, {}).get(j, 0) + c
        A = sp.Matrix(len(table), len(words), lambda i, j: list(table.values())[i].get(j, 0)) if table else \
            sp.zeros(1, len(words))
        for vec in A.nullspace():
            den = sp.ilcm(*[sp.fraction(x)[1] for x in vec])
            vec = [x * den for x in vec]
            g = sp.igcd(*[int(x) for x in vec if x])
            H = sp.Add(*[sp.Integer(int(x / g)) * noncommutative(w, symmetric) for x, w in zip(vec, words) if x])
            Hm = sp.MatAdd(*[MatMul(sp.Integer(int(x / g)), w, evaluate=False)
                             for x, w in zip(vec, words) if x], evaluate=False)
            deg = max(len(w.args) if isinstance(w, MatMul) else 1 for x, w in zip(vec, words) if x)
            name = f"node {node}"
            laws.append(Law("words", f"{H}  (at {name}, every width)", sp.latex(H), "proved (free algebra)",
                            deg, matrix=Hm, data={"node": node}))
    return laws


def _dedupe(words, symmetric):
    seen, out = set(), []
    for w in words:
        key = noncommutative(w, symmetric)
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out


# --------------------------------------------------------------------------- log-determinant ansatz

def det_candidates(F: FlowField) -> list[tuple[str, str, Callable]]:
    """(text, latex, matrix-of-θ) for each determinant candidate: square weights, else the Gram words."""
    out = []
    skips = F.linear and any(e.kind == IDENTITY for e in F.model.network.edges)
    for w, (a, b), k in zip(F.symbols, F.shapes, range(len(F.shapes))):
        if a == b and skips:  # a ResNet block I + A_e
            out.append((f"det(I + {w.name})", rf"\det(I + {sp.latex(w)})",
                        lambda parts, k=k: parts[k] + Jet.constant(parts[k].ring, parts[k].ring.eye(parts[k].shape[0]))))
        if a == b:
            out.append((f"det {w.name}", rf"\det {sp.latex(w)}", lambda parts, k=k: parts[k]))
        else:
            out.append((f"det({w.name}{w.name}ᵀ)" if a < b else f"det({w.name}ᵀ{w.name})",
                        rf"\det({sp.latex(w)}{sp.latex(w)}^T)" if a < b else rf"\det({sp.latex(w)}^T{sp.latex(w)})",
                        (lambda parts, k=k: parts[k] @ parts[k].T) if a < b else
                        (lambda parts, k=k: parts[k].T @ parts[k])))
    return out


def _dlogdet(F: FlowField, cand, theta: Jet, v: Jet):
    """d/dt log det M(θ) = tr(M⁻¹ DM[V]) in GF(p)."""
    ring = F.ring
    M0 = cand(split(theta, F.shapes)).primal
    dM = jvp(lambda th: _vecm(cand(split(th, F.shapes))), theta, v)
    dM = dM.primal.reshape(M0.shape)
    return int(np.trace(ring.matmul(ring.inv(M0), dM))) % ring.p


def _vecm(J: Jet) -> Jet:
    return Jet(J.ring, {k: c.reshape(-1, 1) for k, c in J.coeffs.items()}, (J.shape[0] * J.shape[1], 1))


def logdet_laws(F: FlowField, seed: int = 3, extra: int = 8) -> list[Law]:
    """Laws Π_j (det M_j)^{a_j} with integer a_j (the null space of the sampled tr(M_j⁻¹Ṁ_j) system)."""
    ring = F.ring
    cands = det_candidates(F)
    if len(cands) < 2:
        return []
    rng = random.Random(seed)
    rows = []
    while len(rows) < len(cands) + extra:
        pt, d, v = _sample(F, rng)
        theta = F.theta(pt)
        vj = Jet.constant(ring, v.reshape(-1, 1))
        try:
            rows.append([_dlogdet(F, c[2], theta, vj) for c in cands])
        except ArithmeticError:
            continue
    basis = ring.nullspace(np.array(rows, dtype=np.int64))
    laws = []
    for k in range(basis.shape[1]):
        coeffs = [rational(int(c), ring.p) for c in basis[:, k]]
        den = sp.ilcm(*[c.denominator for c in coeffs if c])
        ints = [int(c * den) for c in coeffs]
        num = [(c[0], c[1], e) for c, e in zip(cands, ints) if e > 0]
        dnm = [(c[0], c[1], -e) for c, e in zip(cands, ints) if e < 0]
        def part(xs, i):
            return " · ".join(x[i] + (f"^{x[2]}" if x[2] != 1 else "") for x in xs) or "1"
        def lpart(xs):
            return " ".join(x[1] + (f"^{{{x[2]}}}" if x[2] != 1 else "") for x in xs) or "1"
        text = f"{part(num, 0)} / {part(dnm, 0)}"
        latex = rf"\frac{{{lpart(num)}}}{{{lpart(dnm)}}}"
        law = Law("logdet", text, latex, "", sum(abs(e) for e in ints), data={"exponents": ints, "cands": cands})
        law.proof = _recheck_logdet(F, law, seed + 5)
        laws.append(law)
    return laws


def _recheck_logdet(F: FlowField, law: Law, seed: int, points: int = 4) -> str:
    ring = F.ring
    rng = random.Random(seed)
    for _ in range(points):
        pt, d, v = _sample(F, rng)
        theta = F.theta(pt)
        vj = Jet.constant(ring, v.reshape(-1, 1))
        s = sum(e * _dlogdet(F, c[2], theta, vj) for c, e in zip(law.data["cands"], law.data["exponents"]) if e)
        if s % ring.p:
            return "REFUTED at a fresh point"
    return f"exact in GF(p) at {points} fresh points (Schwartz–Zippel)"


# --------------------------------------------------------------------------- gradients (independence)

def law_gradients(F: FlowField, laws: list[Law], point: list) -> list[list[int]]:
    """∇h at the integer ``point`` (mod p) for every law, for the rank that counts independent laws."""
    ring = F.ring
    theta = F.theta(point)
    th = _flat(F, point)
    out = []
    basis = [Jet.constant(ring, np.eye(F.D, dtype=np.int64)[:, [i]]) for i in range(F.D)]
    for law in laws:
        if law.kind == "entries":
            mono = law.data["mono"]
            c = np.array([ring.scalar(x) for x in law.data["coeffs"]], dtype=object)
            g = [int(np.dot(_monomial_rows(ring, mono, th, np.eye(F.D, dtype=np.int64)[i]).astype(object), c))
                 % ring.p for i in range(F.D)]
        elif law.kind in ("logdet", "mixed"):
            g = [sum(e * _dlogdet(F, cd[2], theta, b) for cd, e in zip(law.data["cands"], law.data["exponents"])
                     if e) % ring.p for b in basis]
            if law.kind == "mixed":
                c = np.array([ring.scalar(x) for x in law.data["coeffs"]], dtype=object)
                g = [(gi + int(np.dot(_monomial_rows(ring, law.data["mono"], th, np.eye(F.D, dtype=np.int64)[i])
                                      .astype(object), c))) % ring.p for i, gi in enumerate(g)]
        else:
            continue
        out.append(g)
    return out


def word_gradients(F: FlowField, laws: list[Law], point: list) -> list[list[int]]:
    """∇ of every entry of every matrix law at ``point`` (mod p)."""
    ring = F.ring
    theta = F.theta(point)
    out = []
    for law in laws:
        if law.kind != "words":
            continue
        f = _matrix_function(F, law.matrix)
        cols = []
        for i in range(F.D):
            e = Jet.constant(ring, np.eye(F.D, dtype=np.int64)[:, [i]])
            cols.append(jvp(f, theta, e).primal.ravel())
        G = np.array(cols).T  # entries × D
        out += [list(map(int, r)) for r in G]
    return out


def _matrix_function(F: FlowField, H) -> Callable[[Jet], Jet]:
    def f(theta: Jet) -> Jet:
        env = dict(zip(F.symbols, split(theta, F.shapes)))
        return _vecm(_Evaluator(F.ring, env, None)(H))
    return f



# --------------------------------------------------------------------------- mixed ansatz: log-determinants + polynomial

def mixed_laws(F: FlowField, degree: int = 2, seed: int = 4, extra: int = 12) -> list[Law]:
    """Laws h = Σ_j a_j log|det M_j| + P(θ), P a polynomial of degree ≤ ``degree`` with some a_j ≠ 0
    (equivalently Π (det M_j)^{a_j} · e^{P}): the null space of [tr(M_j⁻¹Ṁ_j) | ∇θ^α·V] sampled in GF(p).
    Pure polynomial or pure determinant solutions are left to the other ansätze."""
    ring = F.ring
    cands = det_candidates(F)
    mono = monomials(F.D, degree)
    rng = random.Random(seed)
    n = len(cands) + mono.shape[0]
    rows = []
    while len(rows) < n + extra:
        pt, d, v = _sample(F, rng)
        theta = F.theta(pt)
        vj = Jet.constant(ring, v.reshape(-1, 1))
        try:
            logs = [_dlogdet(F, c[2], theta, vj) for c in cands]
        except ArithmeticError:
            continue
        rows.append(logs + list(_monomial_rows(ring, mono, _flat(F, pt), v)))
    basis = ring.nullspace(np.array(rows, dtype=np.int64))
    syms = entry_symbols(F) + [sp.Integer(1)]
    laws = []
    for k in range(basis.shape[1]):
        col = basis[:, k]
        if not any(col[:len(cands)]):
            continue
        try:
            coeffs = [rational(int(c), ring.p) for c in col]
        except ArithmeticError:
            continue
        den = sp.ilcm(*[c.denominator for c in coeffs if c])
        exps = [int(c * den) for c in coeffs[:len(cands)]]
        poly = sp.Add(*[sp.Integer(int(c * den)) * sp.Mul(*[syms[j] for j in mono[a]])
                        for a, c in enumerate(coeffs[len(cands):]) if c])
        logs = " + ".join(f"{e}·log|{c[0]}|" for c, e in zip(cands, exps) if e)
        text = f"{logs} + ({sp.sstr(poly)})"
        latex = " + ".join(f"{e}\\log|{c[1]}|" for c, e in zip(cands, exps) if e) + " + " + sp.latex(poly)
        law = Law("mixed", text, latex, "", degree, poly,
                  data={"exponents": exps, "cands": cands, "mono": mono,
                        "coeffs": [Fraction(int(c * den)) for c in coeffs[len(cands):]]})
        law.proof = _recheck_mixed(F, law, seed + 5)
        laws.append(law)
    return laws


def _mixed_row(F: FlowField, law: Law, pt, v) -> int:
    ring = F.ring
    theta = F.theta(pt)
    vj = Jet.constant(ring, v.reshape(-1, 1))
    s = sum(e * _dlogdet(F, c[2], theta, vj) for c, e in zip(law.data["cands"], law.data["exponents"]) if e)
    c = np.array([ring.scalar(x) for x in law.data["coeffs"]], dtype=object)
    s += int(np.dot(_monomial_rows(ring, law.data["mono"], _flat(F, pt), v).astype(object), c))
    return s % ring.p


def _recheck_mixed(F: FlowField, law: Law, seed: int, points: int = 4) -> str:
    rng = random.Random(seed)
    for _ in range(points):
        pt, d, v = _sample(F, rng)
        if _mixed_row(F, law, pt, v):
            return "REFUTED at a fresh point"
    return f"exact in GF(p) at {points} fresh points (Schwartz–Zippel)"
