"""When a run is called diverged: shared by the numpy engine (`engines`) and the compiled one (`kernels`),
so that neither imports the other for them."""
DIVERGE_FROM, DIVERGE_WINDOW = 2_000, 1_000
