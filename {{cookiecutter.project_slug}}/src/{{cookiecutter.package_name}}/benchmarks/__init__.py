"""Benchmarks that drive the whole system: `make bench-serve` load-tests the model server.

(`make bench`, native vs optimized model, lives with the optimization stage.) Nothing here is
imported by the server or the pipeline.
"""
