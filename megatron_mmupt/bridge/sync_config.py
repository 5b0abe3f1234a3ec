"""The weight-sync section of a run (``rollout.weight_sync``), importable without the model stack."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice, check_positive, check_range

TRANSPORT_CHOICES = ("auto", "objects", "disk", "tensor", "distributed")


@dataclasses.dataclass(kw_only=True, slots=True)
class WeightSyncConfig(ConfigNode):
    """How the actor's weights reach the engines after every step (``bridge/sync.py``, ``bridge/transports``)."""

    transport: Literal["auto", "objects", "disk", "tensor", "distributed"] = "auto"
    """``auto``: ``objects`` for local engines (Ray's object store), ``tensor`` for SGLang engines colocated with
    the actor (CUDA IPC from each GPU's rank), ``distributed`` for SGLang engines on GPUs of their own (an NCCL
    broadcast from rank 0). ``disk``: safetensors on a shared path, for any engine (the fallback)."""
    disk_dir: str = ""
    """``disk``: a folder every actor rank and engine sees at the same path; empty: ``<output_dir>/weight_sync``."""
    backend: Literal["auto", "nccl", "gloo"] = "auto"
    """``distributed``: the broadcast group's backend; ``auto``: NCCL when the actor is on GPUs, else gloo."""
    group_name: str = "mmupt-weights"
    """``distributed``: the weight-update group's name on the engines."""
    check_every: int = 0
    """Check mode: every this many syncs (and the first), compare a sample of every engine's weights with the
    actor's after the sync, and fail on any difference; 0: off."""
    check_tensors: int = 8
    """Check mode: tensors sampled per check (a different sample each version)."""
    check_values: int = 100
    """Check mode: leading values compared per tensor (SGLang's ``get_weights_by_name`` truncation)."""

    def __post_init__(self) -> None:
        check_choice("transport", self.transport, TRANSPORT_CHOICES)
        check_choice("backend", self.backend, ("auto", "nccl", "gloo"))
        check_range("check_every", self.check_every, 0)
        check_positive("check_tensors", self.check_tensors)
        check_positive("check_values", self.check_values)
        if not self.group_name:
            raise ConfigError("group_name must not be empty; the engines name the weight-update group by it")


def resolve_transport(config: WeightSyncConfig, rollout: Any, *, colocated: bool) -> str:
    """The transport a run uses (``rollout``: its ``RolloutConfig``); ``ConfigError`` naming the fix when the
    choice cannot reach its engines."""
    sglang = rollout.engine == "sglang"
    transport = config.transport
    if transport == "auto":
        return ("tensor" if colocated else "distributed") if sglang else "objects"
    if transport == "objects" and sglang:
        raise ConfigError("rollout.weight_sync.transport=objects reaches local engines only; for SGLang choose "
                          "tensor (colocated), distributed or disk")  # fmt: skip
    if transport in ("tensor", "distributed") and not sglang:
        raise ConfigError(f"rollout.weight_sync.transport={transport} reaches SGLang servers only; local engines "
                          "take objects or disk")  # fmt: skip
    return transport
