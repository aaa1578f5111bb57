"""Many reports: the grid of settings, the sweep on a Dask cluster and its tasks, the comparison page and a class's
gradebook. The top layer below the command line."""
