"""Benchmarks that print measured figures."""
