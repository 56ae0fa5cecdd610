"""Problem instances and data sets: initial layers, input covariance Σx, target T."""
