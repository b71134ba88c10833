"""Benchmarks, metrics, the protocol manifest and the teacher-gap report."""
