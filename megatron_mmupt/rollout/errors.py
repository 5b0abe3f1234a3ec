"""What rollout engines raise (no torch here: the engines' Ray actors import it without the model stack)."""

from __future__ import annotations


class EngineError(RuntimeError):
    """A rollout engine failed to do what was asked; the message names the engine and the request."""


class EngineUnavailable(EngineError):
    """The engine is dead, unreachable or timed out; a balancer may restart it and retry elsewhere."""


class EnginePaused(EngineError):
    """``generate`` was called between ``pause_generation`` and ``continue_generation``."""


class WeightUpdateError(ValueError):
    """A weight update named an unknown tensor or had a wrong shape; no weight was changed."""
