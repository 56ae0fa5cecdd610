"""Problem instances and data sets: initial layers, input covariance Σx, target T.

============  ==================================================================
module        holds
============  ==================================================================
``problems``  random and conditioned instances of a network (layers, Σx, T)
``datasets``  real data: scikit-learn's bundled digits, MNIST IDX files, one-hot labels
============  =================================================================="""
