"""A run's GPUs reserved on Ray: one placement group of single-GPU bundles per node, sorted into cluster order.

    pool = GpuPool.reserve([8, 8], cpus_per_bundle=2.0, timeout_s=600)   # two nodes of 8 GPUs
    pool.slots[i]             # GpuSlot: node, its IP, the GPU id Ray gave the bundle, placement group + bundle
    pool.strategy(i)          # scheduling strategy of a process on slot i
    pool.release()

Each node's group is ``STRICT_PACK`` (all its bundles on one node), as verl's resource pools are; slime keeps one
``PACK`` group for everything and sorts its bundles the same way. Ray does not promise that bundle ``k`` holds
GPU ``k``, nor that groups come up in node order, so a zero-CPU probe task on every bundle reports its node and
GPU id, and the slots are sorted by (node IP, node id, GPU id): consecutive slots are then consecutive GPUs of a
node, which keeps an engine's GPUs and a TP group on one node. Node IP comes first so that rank 0 (the actor's
process-group master) sits on the lowest address; the node id separates nodes that share an IP (several raylets
on one host, as in tests). Since any bundle may end up as any slot, every bundle reserves the same CPUs: a layout
of CPUs per bundle fixed before the reservation would give a slot the CPUs of another (an actor rank sorted onto
a bundle sized for an engine's idle TP rank never starts).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from megatron_mmupt.config.configurable import ConfigError

PROBE_GPU_SHARE = 0.01
"""GPU fraction of the probe task: any bundle can host it beside the run's own requests."""


@dataclasses.dataclass(frozen=True, slots=True)
class GpuSlot:
    """One reserved GPU."""

    node: int
    """Position of its node in the sorted reservation (0 = the node of slot 0)."""
    node_ip: str
    node_id: str
    gpu_id: str
    """The id Ray assigned (an entry of the node's ``CUDA_VISIBLE_DEVICES`` namespace)."""
    group: Any
    """Its ``PlacementGroup``."""
    bundle: int
    """Its bundle index inside ``group``."""


def _probe() -> tuple[str, str, str]:
    import ray

    context = ray.get_runtime_context()
    return ray.util.get_node_ip_address(), context.get_node_id(), str(ray.get_gpu_ids()[0])


class GpuPool:
    def __init__(self, groups: list[Any], slots: list[GpuSlot]) -> None:
        self.groups, self.slots = groups, slots

    @classmethod
    def reserve(cls, gpus_per_node: list[int], *, cpus_per_bundle: float, timeout_s: float) -> GpuPool:
        """Reserve ``gpus_per_node[k]`` GPUs on some node for each k, each with ``cpus_per_bundle`` CPUs (the most
        any slot needs; Ray must be initialized)."""
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group

        if cpus_per_bundle <= 0:
            raise ValueError(f"cpus_per_bundle={cpus_per_bundle!r}: a bundle needs some CPU")
        bundle = {"GPU": 1.0, "CPU": float(cpus_per_bundle)}
        groups = [
            placement_group([dict(bundle) for _ in range(count)], strategy="STRICT_PACK") for count in gpus_per_node
        ]
        ready, _ = ray.wait([g.ready() for g in groups], num_returns=len(groups), timeout=timeout_s)
        if len(ready) < len(groups):
            for group in groups:
                remove_placement_group(group)
            raise ConfigError(_unschedulable(gpus_per_node, len(ready), timeout_s))
        return cls(groups, _sorted_slots(groups, gpus_per_node))

    def strategy(self, slot: int) -> Any:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        s = self.slots[slot]
        return PlacementGroupSchedulingStrategy(s.group, placement_group_bundle_index=s.bundle)

    def release(self) -> None:
        from ray.util.placement_group import remove_placement_group

        for group in self.groups:
            remove_placement_group(group)
        self.groups = []


def _sorted_slots(groups: list[Any], gpus_per_node: list[int]) -> list[GpuSlot]:
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    probe = ray.remote(num_cpus=0, num_gpus=PROBE_GPU_SHARE)(_probe)
    places = [(g, b) for g, count in zip(groups, gpus_per_node, strict=True) for b in range(count)]
    refs = [
        probe.options(scheduling_strategy=PlacementGroupSchedulingStrategy(g, placement_group_bundle_index=b)).remote()
        for g, b in places
    ]
    found = ray.get(refs)
    order = sorted(range(len(places)), key=lambda i: (_ip_key(found[i][0]), found[i][1], _gpu_key(found[i][2])))
    nodes: dict[tuple[str, str], int] = {}
    slots = []
    for i in order:
        ip, node_id, gpu = found[i]
        node = nodes.setdefault((ip, node_id), len(nodes))
        slots.append(GpuSlot(node, ip, node_id, gpu, places[i][0], places[i][1]))
    return slots


def _ip_key(address: str) -> tuple[int, Any]:
    try:
        return (0, ipaddress.ip_address(address))
    except ValueError:  # a host name: after the addresses, alphabetically
        return (1, address)


def _gpu_key(gpu_id: str) -> tuple[int, Any]:
    return (0, int(gpu_id)) if gpu_id.isdigit() else (1, gpu_id)  # numeric ids, else UUID-style names


def _unschedulable(gpus_per_node: list[int], num_ready: int, timeout_s: float) -> str:
    import ray

    total, free = ray.cluster_resources().get("GPU", 0.0), ray.available_resources().get("GPU", 0.0)
    nodes = sorted((n.get("Resources", {}).get("GPU", 0.0) for n in ray.nodes() if n.get("Alive")), reverse=True)
    return (
        f"the run needs {sum(gpus_per_node)} GPUs as {len(gpus_per_node)} node(s) of {gpus_per_node}, but only "
        f"{num_ready} node group(s) could be placed within {timeout_s:.0f} s; Ray sees {total:g} GPUs ({free:g} "
        f"free) on nodes with {', '.join(f'{g:g}' for g in nodes) or 'no'} GPUs. Fix: add nodes, set "
        "cluster.gpus_per_node to the GPUs of one node, or lower trainer.world_size / rollout.num_engines "
        "(megatron-mmupt train --dry-run plans a shape)"
    )


def largest_node_gpus() -> int:
    """GPUs of the largest alive Ray node (the default ``cluster.gpus_per_node``)."""
    import ray

    counts = [n.get("Resources", {}).get("GPU", 0.0) for n in ray.nodes() if n.get("Alive")]
    return int(max(counts, default=0))
