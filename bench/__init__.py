"""bench/ as a Python package, so that its scripts and the tests import shared code as `bench.pyref` (and
`bench.replicate.stats`) with the repository root on PYTHONPATH. bench/run sets that once for every benchmark;
the tests that import bench/ code get it from their registration (tests/*/tests.cmake, ENVIRONMENT)."""
