"""The dense reference route (curvsym.fisher) is right on its own, independently of the derivation.

Checked against complex-step derivatives of hand-written losses and maps, against closed
forms (depth one, Kronecker blocks written out, the ResNet product), and statically: the
module imports nothing from the code generator or its runtime.  About 1 s in all.
"""

import ast
from pathlib import Path

import mpmath
import numpy as np
import pytest
from curvsym.problems import random_instance
from scipy.linalg import sqrtm

import curvsym as cs
from curvsym import fisher

NETS = [cs.chain([2, 3, 2]), cs.chain([3, 2, 4, 2]), cs.resnet(2, 3)]


def _hand_end_to_end(net, ws):
    """W by hand: a chain multiplies its layers, a ResNet its blocks I + A_i."""
    out = np.eye(net.n_in)
    for w in ws:
        out = (w @ out) if net.depth == len(net.blocks()) and len(net.blocks()[0]) == 1 else (out + w @ out)
    return out


def _hand_loss(net, ws, S, T):
    E = _hand_end_to_end(net, ws) - T
    return 0.5 * np.trace(E @ S @ E.T)


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.describe())
def test_gradient_and_jacobian_match_complex_step_derivatives(net):
    """∇L and J against the complex step f'(θ)e_p = Im f(θ + i h e_p)/h (exact to round-off for polynomials)."""
    inst = random_instance(net, seed=4, scale=1.0)
    S, T = inst.data()
    m = cs.model(net)
    theta = fisher.flat(inst.weights)
    half = np.real(sqrtm(S))
    h = 1e-30
    grad, jac = [], []
    for p in range(theta.size):
        step = theta.astype(complex)
        step[p] += 1j * h
        ws = fisher.unflat(step, inst.weights)
        grad.append(np.imag(_hand_loss(net, ws, S, T)) / h)
        jac.append(np.ravel(np.imag(_hand_end_to_end(net, ws) @ half)) / h)
    np.testing.assert_allclose(fisher.dense_gradient(m, inst.weights, inst.data()), grad, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(fisher.jacobian(m, inst.weights, inst.data()), np.array(jac).T, rtol=1e-12,
                               atol=1e-13)


def test_depth_one_closed_form():
    """N = 1: F = I ⊗ Σx, ∇L = (W − T)Σx, and the natural gradient is exactly W − T."""
    net = cs.chain([3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=1, scale=1.0)
    S, T = inst.data()
    (W,) = inst.weights
    np.testing.assert_allclose(fisher.fisher(m, inst.weights, inst.data()), np.kron(np.eye(2), S), atol=1e-13)
    np.testing.assert_allclose(fisher.dense_gradient(m, inst.weights, inst.data()), np.ravel((W - T) @ S),
                               atol=1e-13)
    (v,) = fisher.dense_direction("ngd", m, inst.weights, inst.data())
    np.testing.assert_allclose(v, -(W - T), atol=1e-12)


def test_fisher_blocks_are_the_written_out_kronecker_products():
    """3-layer chain: F_ii = W_{>i}ᵀW_{>i} ⊗ W_{<i}ΣW_{<i}ᵀ and F_12 = W_2ᵀW_3ᵀW_3 ⊗ ΣW_1ᵀ (row-major vec)."""
    net = cs.chain([2, 3, 4, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=2, scale=1.0)
    S, T = inst.data()
    W1, W2, W3 = inst.weights
    F = fisher.fisher(m, inst.weights, inst.data())
    sizes = np.cumsum([0] + [w.size for w in inst.weights])
    block = lambda i, j: F[sizes[i]:sizes[i + 1], sizes[j]:sizes[j + 1]]  # noqa: E731
    above = [W3 @ W2, W3, np.eye(2)]
    below = [np.eye(2), W1, W2 @ W1]
    for i in range(3):
        np.testing.assert_allclose(block(i, i), np.kron(above[i].T @ above[i], below[i] @ S @ below[i].T),
                                   rtol=1e-12, atol=1e-12)
    # (F V)_1 for V = (0, V_2, 0): W_{>1}ᵀ (W_3 V_2 W_1) Σ, i.e. (W_{>1}ᵀW_3) ⊗ (W_1 Σ)ᵀ on vec V_2
    np.testing.assert_allclose(block(0, 1), np.kron((W3 @ W2).T @ W3, (W1 @ S).T), rtol=1e-12, atol=1e-12)


def test_resnet_path_factors_are_products_of_blocks():
    net = cs.resnet(3, 3)
    inst = random_instance(net, seed=5)
    A1, A2, A3 = inst.weights
    B = [np.eye(3) + a for a in (A1, A2, A3)]
    np.testing.assert_allclose(fisher.end_to_end_map(net, inst.weights), B[2] @ B[1] @ B[0], atol=1e-14)
    (M1, R1), (M2, R2), (M3, R3) = fisher.path_factors(net, inst.weights)
    np.testing.assert_allclose(M2, B[0], atol=1e-14)
    np.testing.assert_allclose(R2, B[2], atol=1e-14)
    np.testing.assert_allclose(M3, B[1] @ B[0], atol=1e-14)
    np.testing.assert_allclose(R1, B[2] @ B[1], atol=1e-14)


def test_mpmath_route_holds_its_digits():
    """At 50 digits: Σ^{½}Σ^{½} = Σ, F F⁺ F = F, and (F + λ)^{-1}(F + λ) = I, each to 45 digits."""
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=6, scale=1.0)
    with mpmath.workdps(50):
        W, D = fisher.as_mp(inst.weights, inst.data(), 50)
        S = D[0]
        H = fisher.sqrt_psd(S)
        assert max(abs(x) for x in (H @ H - S).flat) < mpmath.mpf(10) ** -45
        F = fisher.fisher(m, W, D)  # 12 × 12 of rank 4 = n_N·n_0
        P = fisher.sym_power(F, 1)
        assert max(abs(x) for x in (F @ P @ F - F).flat) < mpmath.mpf(10) ** -45 * max(abs(x) for x in F.flat)
        lam = mpmath.mpf("0.1")
        Dm = fisher.sym_power(F, 1, damping=lam)
        eye = np.eye(F.shape[0], dtype=object)
        assert max(abs(x) for x in (Dm @ (F + lam * eye) - eye).flat) < mpmath.mpf(10) ** -45


def test_bad_input_raises_named_errors():
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=1)
    with pytest.raises(cs.ShapeError, match="W_2 must have shape"):
        fisher.jacobian(m, (inst.weights[0], np.zeros((3, 3))), inst.data())
    with pytest.raises(cs.ShapeError, match="2 weight matrices"):
        fisher.fisher(m, inst.weights[:1], inst.data())
    with pytest.raises(cs.NonFiniteError, match="W_1"):
        fisher.dense_gradient(m, (inst.weights[0] * np.nan, inst.weights[1]), inst.data())
    with pytest.raises(cs.ShapeError, match="symmetric"):
        fisher.fisher(m, inst.weights, (inst.Sigma + np.triu(np.ones((2, 2)), 1), inst.T))
    with pytest.raises(cs.CurvsymError, match="no dense reference"):
        fisher.dense_direction("adam", m, inst.weights, inst.data())
    with pytest.raises(cs.ShapeError, match="cannot split"):
        fisher.unflat(np.zeros(5), inst.weights)


def test_reference_route_shares_no_code_with_the_generator():
    """fisher.py may use the network description and the error classes (and the Model type, for annotations
    only), nothing that derives, builds or runs flows."""
    tree = ast.parse(Path(fisher.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    forbidden = {"codegen", "runtime", "matfuncs", "rules", "integrate", "integrate.state", "sharpness", "checks",
                 "modes", "backends"}
    runtime_imports = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}

    def parts(names):
        return {p for name in names if name for p in name.lstrip(".").split(".")}
    assert "derive" not in parts(runtime_imports)
    assert not parts(imported) & forbidden, imported
