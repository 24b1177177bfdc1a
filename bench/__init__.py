"""Benchmarks: the connector against the licence ceiling and against a naive script (``bench.run``)."""
