"""numba kernels: pure functions on arrays. Nothing outside this package imports numba."""
