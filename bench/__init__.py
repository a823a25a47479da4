"""pyxring's benchmarks: ``python -m bench.run`` (``make bench``)."""
