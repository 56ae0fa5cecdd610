"""Symbolic derivation (SymPy): networks, nodes, derived flows, learning rules, mode dynamics.

==================  ==============================================================
module              holds
==================  ==============================================================
``network``         architectures as networkx graphs: ``chain``, ``resnet``, ``from_graph``
``nodes``           the node protocol: one class per symbolic matrix object
``matfuncs``        nodes for pseudo-inverses, PSD powers (and their Fréchet derivatives), the output-space solve
``derive``          models, path sums, loss, gradients (adjoint rule), flows, balance
``calculus``        time / directional derivatives by dispatch on the node
``algebra``         expansion in the free algebra with involution (exact identities)
``sharing``         hash-consing: every distinct subtree named once (CSE, named LaTeX)
``printing``        derived flows as LaTeX with named intermediates
``activations``     activation nodes σ^{(k)}(Z) (ReLU, leaky ReLU, tanh, softplus), softmax, logsumexp
``nonlinear``       nonlinear data models: forward pass, losses, per-neuron balance
``rules``           learning rules as classes (GD, NGD, K-FAC, Bernacchia, custom, text)
``modes``           per-mode ODEs derived from the matrix flows; invariants; closed forms
``step_maps``       step maps: modified equations (backward error analysis), balance under steps
``memory_limits``   limits of rules with memory: heavy ball's and Adam's modified equations, balance under momentum
``scale_nodes``     entrywise nodes of the adaptive rules: 1/(√S + ε) and 1/X
==================  ==============================================================
"""
