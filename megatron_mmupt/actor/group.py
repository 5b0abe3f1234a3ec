"""The actor as the driver sees it: ``world_size`` Ray workers (Megatron ranks) called collectively.

    actor = ActorGroup.launch(config, algorithm, cluster, world_size=8, seed=1, placement=placement)
    old = actor.logprobs(sequences, temperature)                     # (N, L - 1), rank 0's copy
    metrics = actor.train_step(sequences, batch, temperature)
    report = actor.push_weights(plan)                                # weights from the ranks to the engines
    actor.offload(["optimizer", "grads", "weights"]); actor.onload() # colocated: GPU memory for the engines

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
from megatron_mmupt.bridge.transports import SyncPlan, SyncReport
from megatron_mmupt.parallel.cluster import ClusterConfig
from megatron_mmupt.parallel.run_placement import RunPlacement


class ActorGroup:
    def __init__(self, workers: list[Any]) -> None:
        self.workers = workers

    @classmethod
    def launch(
        cls, config: MegatronActor.Config, algorithm: AlgorithmConfig, cluster: ClusterConfig, *, world_size: int,
        seed: int, placement: RunPlacement, worker_class: type = ActorWorker,
    ) -> ActorGroup:  # fmt: skip
        """``world_size`` workers where ``placement`` puts them (rank ``r`` on its bundle), joined into one group.

        ``worker_class`` is ``ActorWorker`` except in tests that replace the GPU work (it must provide
        ``address()`` and ``setup(master, config, algorithm, seed)``).
        """
        import ray

        remote = ray.remote(worker_class)
        threads = max(1, round(cluster.cpus_per_worker))
        workers = [
            remote.options(**placement.actor_options(rank)).remote(rank, world_size, threads)
            for rank in range(world_size)
        ]
        master = ray.get(workers[0].address.remote(), timeout=cluster.startup_timeout_s)
        setups = [w.setup.remote(master, config, algorithm, seed) for w in workers]
        ray.get(setups, timeout=cluster.startup_timeout_s)
        return cls(workers)

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

    def push_weights(self, plan: SyncPlan) -> SyncReport:
        """Every rank sends its part of the weights straight to the engines; the driver gets rank 0's report."""
        return self._all("push_weights", plan)[0]

    def offload(self, groups: list[str]) -> int:
        """Free ``groups`` (weights, grads, optimizer) of every rank's GPU; returns the bytes freed per rank."""
        return self._all("offload", groups)[0]

    def onload(self) -> int:
        return self._all("onload")[0]

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
