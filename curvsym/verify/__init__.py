"""Verification: checks with residual, tolerance and verdict; theorems; reports; dense references.

==============  ====================================================================
module          holds
==============  ====================================================================
``checks``      conservation and exponential-law checks along trajectories
``theorem``     theorem files: the decorator, discovery, running with timeouts
``theorem_process``  a process per theorem file and run, killed from outside: every theorem gets a row
``report``      verdict tables (text, JSON)
``identities``  exact identities proved in the free algebra or refuted at random points
``dense_reference``  dense Jacobian / Fisher: the independent reference route (small nets)
``sharpness``   Hessian–vector products, λ_max / λ_min (dense, Lanczos)
``step_size``   step map against flow: distances, fitted orders, curvature envelopes
``memory_limit_checks``  momentum limits: free-algebra proofs and fitted orders of the rules with memory
``seeds``       theorem instances: shipped seeds by default, redrawn from ``prove --seed S``
==============  ====================================================================
"""
