"""What the driver hands every actor rank for one weight sync, and what rank 0 hands back.

The driver only coordinates: it says which engines to reach and how (``SyncPlan``, small and picklable); the
weights go from the actor's ranks to the engines (``bridge/transports``), never through the driver.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Transport = Literal["objects", "disk", "tensor", "distributed"]
TRANSPORTS: tuple[str, ...] = ("objects", "disk", "tensor", "distributed")


@dataclasses.dataclass(frozen=True, slots=True)
class SyncPlan:
    """One sync, the same on every rank."""

    transport: Transport
    targets: tuple[Any, ...]
    """One per engine: a ``LocalEngineTarget`` (Ray actor) or a ``ServerEndpoint`` (HTTP server)."""
    version: int
    bucket_bytes: int
    checkpoint: str
    """HF folder of the served model: bucket names and shapes are checked against its headers before sending."""
    feeders: tuple[tuple[int, ...], ...] = ()
    """``tensor``: per engine, the actor ranks on its GPUs in its TP-rank order (they send the payloads)."""
    disk_dir: str = ""
    """``disk``: a folder the sending rank writes and every engine reads, at the same path."""
    backend: Literal["nccl", "gloo"] = "nccl"
    """``distributed``: the broadcast group's backend."""
    group_name: str = "mmupt-weights"
    fingerprint_values: int = 0
    """> 0: rank 0 returns the first this many values of every tensor it sent (the check mode), exactly (as
    floats of the actor's dtype)."""


@dataclasses.dataclass(frozen=True, slots=True)
class SyncReport:
    """Rank 0's account of a sync."""

    num_bytes: int
    num_buckets: int
    num_tensors: int
    seconds: float
    fingerprints: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """``sync/*`` are the same in identical runs; ``perf/*`` are wall-clock figures."""
        return {
            "sync/bytes": float(self.num_bytes),
            "sync/buckets": float(self.num_buckets),
            "sync/tensors": float(self.num_tensors),
            "perf/sync_push_seconds": self.seconds,
            "perf/sync_gb_per_s": self.num_bytes / 1e9 / self.seconds if self.seconds > 0 else 0.0,
        }
