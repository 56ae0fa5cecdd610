"""Benchmarks of nonlinear networks: the generated gradient against hand-written backprop, side by side.

f. The generated gradient (weights and biases) of a 64-50-50-10 ReLU network
   with softmax cross-entropy on 1000 digits (scikit-learn's bundled 8 × 8
   digits), against

   1. a hand-written NumPy backprop (forward, softmax, backward, one line per
      layer): target ratio ≤ 1.3;
   2. on PyTorch through the array API (the same generated source, ``xp = torch``)
      against ``torch.autograd`` on the same tensors: target ratio ≤ 1.5.  Skipped
      with a note when PyTorch is not installed.

Both sides are checked to agree (1e-12 relative) before timing; timings are
medians of interleaved repeats (:func:`curvsym.bench.timing.interleaved`).  Nothing here
is asserted in tests.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..codegen import generate_expressions
from ..data.datasets import load_digits
from ..symbolic import nonlinear as nl
from ..symbolic.network import chain
from .timing import BenchRow, interleaved

__all__ = ["run_nonlinear", "reference_backprop", "relu_problem"]

WIDTHS = (64, 50, 50, 10)


def relu_problem(examples: int = 1000, widths: Sequence[int] = WIDTHS, seed: int = 0) -> tuple:
    """(model, parameters, X, Y): a ReLU chain with biases and cross-entropy on the first digits."""
    net = chain(list(widths), activation="relu", bias=True)
    m = nl.data_model(net, examples, loss="cross_entropy")
    d = load_digits()
    X, Y = nl.data_arrays(m, d.X[:, :examples], d.labels[:examples])
    params = nl.init_parameters(m, seed, 1.0, 0.1)
    return m, params, X, Y


def reference_backprop(params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
    """Hand-written backprop of a ReLU chain with biases and softmax cross-entropy (params W_1, b_1, W_2, b_2, …)."""
    Ws, bs = params[0::2], params[1::2]
    m = X.shape[1]
    Hs, Zs = [X], []
    for W, b in zip(Ws[:-1], bs[:-1]):
        Z = W @ Hs[-1] + b
        Zs.append(Z)
        Hs.append(np.maximum(Z, 0))
    out = Ws[-1] @ Hs[-1] + bs[-1]
    P = np.exp(out - out.max(axis=0, keepdims=True))
    P /= P.sum(axis=0, keepdims=True)
    D = P - Y
    grads: list[np.ndarray] = []
    for k in range(len(Ws) - 1, -1, -1):
        grads[:0] = [D @ Hs[k].T / m, D.sum(axis=1, keepdims=True) / m]
        if k:
            D = (Ws[k].T @ D) * (Zs[k - 1] > 0)
    return grads


def _numpy_row(repeats: int, examples: int, inner: int = 20) -> BenchRow:
    m, params, X, Y = relu_problem(examples)
    grad = generate_expressions(m, "gradient", list(m.gradient()))
    ours = grad.raw(*params, X, Y)
    ref = reference_backprop(params, X, Y)
    err = max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) for a, b in zip(ours, ref))
    t_ours, t_ref = interleaved([lambda: [grad.raw(*params, X, Y) for _ in range(inner)],
                                  lambda: [reference_backprop(params, X, Y) for _ in range(inner)]], repeats)
    ratio = t_ours / t_ref
    return BenchRow(f"g. ReLU 64-50-50-10 gradient, {examples} digits [NumPy]", t_ours / inner, t_ref / inner,
                    "hand-written NumPy backprop", "ratio ≤ 1.3", ratio <= 1.3 and err < 1e-12,
                    f"{grad.n_products} products; agreement {err:.1e}")


def _torch_row(repeats: int, examples: int) -> BenchRow:
    try:
        import torch
    except ImportError:
        return BenchRow("g. ReLU 64-50-50-10 gradient [PyTorch, array API]", None, None, "", "ratio ≤ 1.5", None,
                        "PyTorch is not installed: skipped (pip install torch)")
    m, params, X, Y = relu_problem(examples)
    grad = generate_expressions(m, "gradient", list(m.gradient()), backend="array_api")
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tp = [torch.tensor(p, dtype=torch.float64, device=dev) for p in params]
    tX = torch.tensor(X, dtype=torch.float64, device=dev)
    tY = torch.tensor(Y, dtype=torch.float64, device=dev)
    xp = __import__("array_api_compat").array_namespace(tX)

    def generated():
        out = grad.raw(*tp, tX, tY, xp=xp)
        if dev == "cuda":
            torch.cuda.synchronize()
        return out

    def autograd():
        ps = [p.clone().requires_grad_(True) for p in tp]
        H = tX
        for W, b in zip(ps[0:-2:2], ps[1:-2:2]):
            H = torch.relu(W @ H + b)
        out = ps[-2] @ H + ps[-1]
        loss = -(tY * torch.log_softmax(out, dim=0)).sum() / tX.shape[1]
        g = torch.autograd.grad(loss, ps)
        if dev == "cuda":
            torch.cuda.synchronize()
        return g

    err = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(generated(), autograd()))
    t_ours, t_ref = interleaved([generated, autograd], repeats)
    ratio = t_ours / t_ref
    return BenchRow(f"g. ReLU 64-50-50-10 gradient, {examples} digits [PyTorch {dev}, array API]", t_ours, t_ref,
                    "torch.autograd", "ratio ≤ 1.5", ratio <= 1.5 and err < 1e-12, f"agreement {err:.1e}")


def run_nonlinear(quick: bool, examples: int = 1000) -> list[BenchRow]:
    """Part f: generated ReLU-network gradients against hand-written backprop (NumPy) and torch.autograd."""
    repeats = 3 if quick else 21
    return [_numpy_row(repeats, examples, 5 if quick else 20), _torch_row(repeats, examples)]
