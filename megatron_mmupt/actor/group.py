"""The actor as the driver sees it: ``world_size`` Ray workers (Megatron ranks) called collectively.

    actor = ActorGroup.launch(config, algorithm, cluster, seed=1)     # TP x PP x DP ranks, process group joined
    old = actor.logprobs(sequences, temperature)                     # (N, L - 1), rank 0's copy
    metrics = actor.train_step(sequences, batch, temperature)
    buckets = actor.weight_buckets(bucket_bytes)                     # HF-named, for the rollout engines

Arguments are put into Ray's object store once and every rank reads the same object. A failure on any rank
is raised on the driver with that rank's traceback; the group is not usable afterwards.
"""

from __future__ import annotations

from typing import Any

import torch

from megatron_mmupt.actor.megatron.actor import MegatronActor
from megatron_mmupt.actor.sequences import SequenceBatch
from megatron_mmupt.actor.worker import ActorWorker
from megatron_mmupt.algorithm.config import AlgorithmConfig
from megatron_mmupt.algorithm.types import TrainBatch
from megatron_mmupt.parallel.cluster import ClusterConfig


class ActorGroup:
    def __init__(self, workers: list[Any], placement: Any = None) -> None:
        self.workers, self.placement = workers, placement

    @classmethod
    def launch(
        cls, config: MegatronActor.Config, algorithm: AlgorithmConfig, cluster: ClusterConfig, *, world_size: int,
        seed: int,
    ) -> ActorGroup:  # fmt: skip
        import ray
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        gpus = cluster.gpus_per_worker()
        # One bundle per rank, packed: ranks of a node fill its GPUs in order (rank i -> bundle i).
        bundle = {"CPU": cluster.cpus_per_worker} | ({"GPU": gpus} if gpus else {})
        placement = placement_group([bundle] * world_size, strategy="PACK")
        ray.get(placement.ready(), timeout=cluster.startup_timeout_s)
        remote = ray.remote(num_cpus=cluster.cpus_per_worker, num_gpus=gpus)(ActorWorker)
        threads = max(1, round(cluster.cpus_per_worker))
        workers = [
            remote.options(
                scheduling_strategy=PlacementGroupSchedulingStrategy(placement, placement_group_bundle_index=rank)
            ).remote(rank, world_size, threads)
            for rank in range(world_size)
        ]
        master = ray.get(workers[0].address.remote(), timeout=cluster.startup_timeout_s)
        setups = [w.setup.remote(master, config, algorithm, seed) for w in workers]
        ray.get(setups, timeout=cluster.startup_timeout_s)
        return cls(workers, placement)

    def _all(self, method: str, *args: Any) -> list[Any]:
        import ray

        refs = [ray.put(a) if isinstance(a, (SequenceBatch, TrainBatch, dict)) else a for a in args]
        return ray.get([getattr(w, method).remote(*refs) for w in self.workers])

    def logprobs(self, sequences: SequenceBatch, temperature: float, *, reference: bool = False) -> torch.Tensor:
        return self._all("logprobs", sequences, temperature, reference)[0]

    def train_step(self, sequences: SequenceBatch, batch: TrainBatch, temperature: float) -> dict[str, float]:
        return self._all("train_step", sequences, batch, temperature)[0]

    def weight_buckets(self, bucket_bytes: int) -> list[list[tuple[str, torch.Tensor]]]:
        return self._all("weight_buckets", bucket_bytes)[0]

    def save_checkpoint(self, directory: str, step: int, trainer_state: dict[str, Any], keep_last: int) -> str:
        return self._all("save_checkpoint", directory, step, trainer_state, keep_last)[0]

    def load_checkpoint(self, path: str) -> dict[str, Any]:
        return self._all("load_checkpoint", path)[0]

    def export_hf(self, out: str, bucket_bytes: int) -> str:
        return self._all("export_hf", out, bucket_bytes)[0]

    def shutdown(self) -> None:
        import ray

        for worker in self.workers:
            ray.kill(worker)
        if self.placement is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.placement)
