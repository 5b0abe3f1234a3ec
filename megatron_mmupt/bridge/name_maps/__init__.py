"""Declarative name maps, one per model family."""
