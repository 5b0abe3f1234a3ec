"""Fixtures shared by tests, benchmarks and the demo: synthetic responses, labeled answer pairs, pool tasks."""
