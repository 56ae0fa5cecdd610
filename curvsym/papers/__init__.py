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
``duersch2024``             J. A. Duersch, T. A. Catanach, A. Safonov, J. Wendt. Curvature in
                            the Looking-Glass. arXiv:2411.16914 (2024) — the glass model, its
                            estimators and the Alice optimiser.
``duersch2024_digits``      the same paper at small scale: glass probe and ablation on a ReLU
                            MLP on digits (a substitute for ResNet-18 on CIFAR-10).
==========================  ==============================================================

The other papers behind curvsym enter through the library itself: Huh (ICML 2020,
curvature-corrected and fractional rules: :mod:`curvsym.symbolic.rules`,
:mod:`curvsym.symbolic.modes`), Bernacchia, Lengyel & Hennequin (NeurIPS 2018,
exact natural gradient: :class:`curvsym.symbolic.rules.Bernacchia`).  The mathematics of all five is on the reference page
``docs/mathematics.md``.
"""
