"""Which GPU each process of a run gets: the actor's ranks and the rollout engines' ranks (pure, no Ray).

The run's GPUs are numbered in cluster order (node by node, GPU ids ascending; ``gpu_pool`` sorts what Ray
reserved into that order). On those slots:

* **colocated**: actor rank ``r`` on slot ``r``; engine ``e`` on slots ``e*tp .. e*tp + tp - 1``. Every GPU
  holds one actor rank and one engine rank; they take turns (the actor is offloaded while the engines
  generate, the engines release their memory while the actor trains). Engine ``e``'s weights come from the
  actor ranks on its own GPUs (``feeders``), which is what a CUDA-IPC weight sync needs.
* **disaggregated**: actor ranks on slots ``0 .. W-1``; the engines after them, from the first multiple of
  ``tp`` on, so no engine straddles two nodes (``tp`` divides the GPUs of a node).

Ray's accounting (``GpuShares``): a colocated GPU is shared by fractional requests on the same placement
bundle (the actor's worker and the engine's Ray actor); a disaggregated one is claimed whole. An SGLang engine
of ``tp`` GPUs is one Ray actor on its first bundle; its server process is started with
``CUDA_VISIBLE_DEVICES`` set to all of its GPUs (``engine_devices``) and ``base_gpu_id=0``, the pattern of
slime and verl, so the other ``tp - 1`` bundles are reserved for it without a Ray claim.
"""

from __future__ import annotations

import dataclasses
import math

from megatron_mmupt.config.configurable import ConfigError


@dataclasses.dataclass(frozen=True, slots=True)
class GpuShares:
    """Fractions of one GPU that Ray is asked for (they only need to fit together in one bundle)."""

    actor: float
    engine: float


COLOCATED_SHARES = GpuShares(actor=0.5, engine=0.25)
"""Colocated: both fit on one bundle with room left (a probe task takes 0.01)."""
DISAGGREGATED_SHARES = GpuShares(actor=1.0, engine=1.0)


@dataclasses.dataclass(frozen=True, slots=True)
class GpuAssignment:
    """Slot indices (positions in the run's sorted GPU list) of every actor rank and every engine."""

    actor: tuple[int, ...]
    """``actor[r]``: the slot of actor rank ``r``."""
    engines: tuple[tuple[int, ...], ...]
    """``engines[e]``: the slots of engine ``e``'s tensor-parallel ranks, in TP-rank order."""
    colocated: bool
    num_gpus: int
    """GPUs to reserve (idle ones included: disaggregated engines start on a multiple of their TP size)."""

    @property
    def shares(self) -> GpuShares:
        return COLOCATED_SHARES if self.colocated else DISAGGREGATED_SHARES

    def feeders(self, engine: int) -> tuple[int, ...]:
        """Actor ranks on engine ``engine``'s GPUs, in the engine's TP-rank order (colocated only)."""
        if not self.colocated:
            raise ValueError("feeders exist only in colocated placements (actor ranks on the engines' GPUs)")
        rank_of = {slot: rank for rank, slot in enumerate(self.actor)}
        return tuple(rank_of[slot] for slot in self.engines[engine])


def assign_gpus(
    *, world_size: int, num_engines: int, engine_tp: int, gpus_per_node: int, colocated: bool
) -> GpuAssignment:
    """The slots of a run; ``ConfigError`` naming the keys to change when the shape cannot be placed."""
    if gpus_per_node < 1:
        raise ConfigError(f"gpus_per_node={gpus_per_node}: a GPU placement needs at least one GPU per node")
    if engine_tp > gpus_per_node or gpus_per_node % engine_tp:
        fits = [d for d in range(1, gpus_per_node + 1) if gpus_per_node % d == 0]
        raise ConfigError(
            f"rollout.sglang.tp_size={engine_tp} must divide the {gpus_per_node} GPUs of a node (an engine's GPUs "
            f"lie on one node); valid sizes: {', '.join(map(str, fits))}"
        )
    engine_gpus = num_engines * engine_tp
    if colocated:
        if engine_gpus > world_size:
            raise ConfigError(
                f"colocated: {num_engines} engines x tp {engine_tp} = {engine_gpus} GPUs, but the actor has only "
                f"{world_size} ranks (GPUs); every engine GPU must hold an actor rank: set "
                f"rollout.num_engines={world_size // engine_tp} or trainer.world_size={engine_gpus}"
            )
        engines = tuple(tuple(range(e * engine_tp, (e + 1) * engine_tp)) for e in range(num_engines))
        return GpuAssignment(tuple(range(world_size)), engines, True, world_size)
    start = math.ceil(world_size / engine_tp) * engine_tp
    engines = tuple(tuple(range(start + e * engine_tp, start + (e + 1) * engine_tp)) for e in range(num_engines))
    return GpuAssignment(tuple(range(world_size)), engines, False, start + engine_gpus)


def nodes_needed(num_gpus: int, gpus_per_node: int) -> list[int]:
    """GPUs per node of a reservation: full nodes, then the rest (one placement group each)."""
    full, rest = divmod(num_gpus, gpus_per_node)
    return [gpus_per_node] * full + ([rest] if rest else [])
