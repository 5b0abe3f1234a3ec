"""Where a run's Ray actors go: the actor's ranks and the rollout engines, on GPUs or on CPUs.

    placement = RunPlacement.reserve(cluster, world_size=8, num_engines=2, engine_tp=4, engines_on_gpu=True,
                                     cpus_per_engine=1.0)
    remote.options(**placement.actor_options(rank))        # one Megatron rank
    server.options(**placement.engine_options(e))           # one engine's Ray actor
    placement.engine_devices(e)                             # CUDA_VISIBLE_DEVICES of its server process
    placement.release()

On GPU machines (``cluster.gpus_per_worker() > 0``) the GPUs are reserved as ``gpu_pool`` describes and
assigned as ``placement`` describes (colocated or disaggregated). On CPU machines the actor's ranks get one
``PACK`` placement group of CPU bundles (rank ``i`` on bundle ``i``) and the engines no placement at all.
"""

from __future__ import annotations

from typing import Any

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.parallel.cluster import ClusterConfig
from megatron_mmupt.parallel.gpu_pool import GpuPool, GpuSlot, largest_node_gpus
from megatron_mmupt.parallel.placement import GpuAssignment, assign_gpus, nodes_needed


class RunPlacement:
    def __init__(
        self,
        cluster: ClusterConfig,
        *,
        cpus_per_engine: float,
        assignment: GpuAssignment | None = None,
        pool: GpuPool | None = None,
        cpu_group: Any = None,
    ) -> None:
        self.cluster, self.cpus_per_engine = cluster, cpus_per_engine
        self.assignment, self.pool, self.cpu_group = assignment, pool, cpu_group

    @classmethod
    def reserve(
        cls,
        cluster: ClusterConfig,
        *,
        world_size: int,
        num_engines: int,
        engine_tp: int,
        engines_on_gpu: bool,
        cpus_per_engine: float,
    ) -> RunPlacement:
        """Reserve the run's resources on Ray (initialized by the caller); errors name the fix."""
        import ray

        if cluster.gpus_per_worker() <= 0:
            from ray.util.placement_group import placement_group

            group = placement_group([{"CPU": cluster.cpus_per_worker}] * world_size, strategy="PACK")
            ray.get(group.ready(), timeout=cluster.startup_timeout_s)
            return cls(cluster, cpus_per_engine=cpus_per_engine, cpu_group=group)
        gpus_per_node = cluster.gpus_per_node or largest_node_gpus()
        assignment = assign_gpus(
            world_size=world_size,
            num_engines=num_engines if engines_on_gpu else 0,
            engine_tp=engine_tp,
            gpus_per_node=gpus_per_node,
            colocated=cluster.colocate and engines_on_gpu,
        )
        cpus = [0.0] * assignment.num_gpus
        for slot in assignment.actor:
            cpus[slot] += cluster.cpus_per_worker
        for slots in assignment.engines:
            cpus[slots[0]] += cpus_per_engine
        pool = GpuPool.reserve(
            nodes_needed(assignment.num_gpus, gpus_per_node),
            cpus_per_bundle=max(*cpus, 0.01),  # uniform: which bundle becomes which slot is known only afterwards
            timeout_s=cluster.startup_timeout_s,
        )
        placement = cls(cluster, cpus_per_engine=cpus_per_engine, assignment=assignment, pool=pool)
        placement._check_engines_on_one_node()
        return placement

    # --- the actor's ranks ----------------------------------------------------------------------------

    def actor_options(self, rank: int) -> dict[str, Any]:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        options: dict[str, Any] = {"num_cpus": self.cluster.cpus_per_worker}
        if self.pool is None:
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                self.cpu_group, placement_group_bundle_index=rank
            )
            return options | {"num_gpus": 0}
        slot = self.assignment.actor[rank]
        return options | {"num_gpus": self.assignment.shares.actor, "scheduling_strategy": self.pool.strategy(slot)}

    def actor_gpu(self, rank: int) -> GpuSlot | None:
        return None if self.pool is None else self.pool.slots[self.assignment.actor[rank]]

    # --- the engines ----------------------------------------------------------------------------------

    @property
    def engines_on_gpu(self) -> bool:
        return self.pool is not None and bool(self.assignment.engines)

    @property
    def colocated(self) -> bool:
        return self.engines_on_gpu and self.assignment.colocated

    def engine_options(self, engine: int) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": self.cpus_per_engine}
        if not self.engines_on_gpu:
            return options | {"num_gpus": 0}
        first = self.assignment.engines[engine][0]
        return options | {"num_gpus": self.assignment.shares.engine, "scheduling_strategy": self.pool.strategy(first)}

    def engine_devices(self, engine: int) -> tuple[str, ...]:
        """GPU ids of engine ``engine`` on its node, in TP-rank order (empty on CPU)."""
        if not self.engines_on_gpu:
            return ()
        return tuple(self.pool.slots[s].gpu_id for s in self.assignment.engines[engine])

    def feeders(self, engine: int) -> tuple[int, ...]:
        """Actor ranks on engine ``engine``'s GPUs, in its TP-rank order (colocated placements)."""
        return self.assignment.feeders(engine)

    # --- reporting and clean-up -----------------------------------------------------------------------

    def describe(self) -> list[str]:
        if self.pool is None:
            return [f"placement: {len(self.cpu_group.bundle_specs)} actor ranks on CPU bundles; engines unplaced"]
        slots, lines = self.pool.slots, []
        mode = "colocated" if self.colocated else "disaggregated"
        lines.append(f"placement: {len(slots)} GPUs on {len({s.node for s in slots})} node(s), {mode}")
        for rank, slot in enumerate(self.assignment.actor):
            lines.append(
                f"  actor rank {rank}: node {slots[slot].node} ({slots[slot].node_ip}) GPU {slots[slot].gpu_id}"
            )
        for engine in range(len(self.assignment.engines)):
            node = slots[self.assignment.engines[engine][0]]
            lines.append(
                f"  engine {engine}: node {node.node} ({node.node_ip}) GPUs {','.join(self.engine_devices(engine))}"
            )
        return lines

    def release(self) -> None:
        if self.pool is not None:
            self.pool.release()
        if self.cpu_group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.cpu_group)
            self.cpu_group = None

    def _check_engines_on_one_node(self) -> None:
        for engine, slots in enumerate(self.assignment.engines):
            nodes = {self.pool.slots[s].node for s in slots}
            if len(nodes) > 1:
                self.release()
                raise ConfigError(
                    f"engine {engine}'s {len(slots)} GPUs landed on {len(nodes)} nodes; set cluster.gpus_per_node to "
                    "the GPU count of one node (each node's GPUs are reserved as one group)"
                )
