"""Multi-word float64 arithmetic: a value is an unevaluated sum of w float64 words (w = 2: double-double).

=========  ==========================================================================
module     holds
=========  ==========================================================================
words      error-free transformations, conversions mpf ↔ words, exact sliced products
array      :class:`~curvsym.kernels.multiword.array.MWArray`, arrays of w-word values with operators
linalg     refined solves and eigen-decompositions at the word precision
compiled   the C kernels (``ddtaylor.c``): double/triple-double entrywise ops, products, Taylor tapes
=========  ==========================================================================
"""
