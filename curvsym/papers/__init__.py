"""The papers curvsym comes from, one module per reproduced paper (with its citation).

==========================  ==============================================================
module                      paper
==========================  ==============================================================
``mulayoff2020``            R. Mulayoff, T. Michaeli. Unique Properties of Flat Minima in Deep
                            Networks. ICML 2020 (arXiv:2002.04710) — flat minima, coupling.
``bernacchia2018``          A. Bernacchia, M. Lengyel, G. Hennequin. Exact natural gradient in
                            deep linear networks and its application to the nonlinear case.
                            NeurIPS 2018 — the online natural gradient, the autoencoder experiment.
``elkabetz2021``            O. Elkabetz, N. Cohen. Continuous vs. Discrete Optimization of Deep
                            Neural Networks. NeurIPS 2021 (arXiv:2107.06608) — GD against GF,
                            Proposition 1, favourable curvature, the step-size experiment.
==========================  ==============================================================

The other papers behind curvsym enter through the library itself: Huh (ICML 2020,
curvature-corrected and fractional rules: :mod:`curvsym.symbolic.rules`,
:mod:`curvsym.symbolic.modes`), Bernacchia, Lengyel & Hennequin (NeurIPS 2018,
exact natural gradient: :class:`curvsym.symbolic.rules.Bernacchia`) and Duersch et al. (2024, glass
curvature and Alice).  The mathematics of all five is on the reference page
``docs/mathematics.md``.
"""
