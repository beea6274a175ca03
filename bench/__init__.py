"""Benchmarks of the running assistant; results and how to reproduce them: docs/benchmarks.md."""
