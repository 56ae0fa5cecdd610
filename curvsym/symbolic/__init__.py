"""Symbolic derivation (SymPy): networks, nodes, derived flows, learning rules, mode dynamics.

==================  ==============================================================
module              holds
==================  ==============================================================
``network``         architectures as networkx graphs: ``chain``, ``resnet``, ``from_graph``
``nodes``           the node protocol: one class per symbolic matrix object
``matfuncs``        nodes for pseudo-inverses, PSD powers (and their Fréchet derivatives), the output-space solve
``derive``          models, path sums, loss, gradients (adjoint rule), flows, balance
``calculus``        time / directional derivatives by dispatch on the node
``algebra``         exact identities in the free algebra; conservation proofs
``rules``           learning rules as classes (GD, NGD, K-FAC, Bernacchia, custom, text)
``modes``           per-mode ODEs derived from the matrix flows; invariants; closed forms
``discrete``        step maps: modified equations (backward error analysis), balance under steps
==================  ==============================================================
"""
