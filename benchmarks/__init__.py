"""Benchmarks of wire-ingest, run beside the package, never shipped in it."""
