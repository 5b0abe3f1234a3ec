"""One rank of the Megatron actor, as a Ray actor: the policy, its frozen reference, weight export, checkpoints.

Every method is collective: the driver calls it on all ranks with the same arguments (``actor.group``), and
takes rank 0's result. Ray starts the processes; torch.distributed (gloo on CPU, NCCL on GPU) connects them
through the address rank 0 publishes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.actor.megatron.actor import MegatronActor
from megatron_mmupt.actor.megatron.offload import StateGroup
from megatron_mmupt.actor.sequences import SequenceBatch
from megatron_mmupt.algorithm.config import AlgorithmConfig
from megatron_mmupt.algorithm.types import TrainBatch
from megatron_mmupt.bridge.exporter import Receivers, iter_hf_buckets
from megatron_mmupt.bridge.transports import SyncPlan, SyncReport, WeightPusher
from megatron_mmupt.parallel.rank_env import master_address, rank_environment


class ActorWorker:
    def __init__(self, rank: int, world_size: int, num_threads: int) -> None:
        self.rank, self.world_size = rank, world_size
        if not torch.cuda.is_available():
            torch.set_num_threads(max(1, num_threads))
        self.policy: MegatronActor | None = None
        self.reference: MegatronActor | None = None
        self.pusher = WeightPusher(rank, world_size)

    def address(self) -> tuple[str, int]:
        """Where rank 0 listens for the process group (called on rank 0 only)."""
        return master_address()

    def setup(
        self, master: tuple[str, int], config: MegatronActor.Config, algorithm: AlgorithmConfig, seed: int
    ) -> dict[str, int]:
        """Join the process group, build the policy (and the reference when the KL term is on)."""
        from megatron_mmupt.actor.megatron.distributed import init_parallel

        env = rank_environment(master=master, rank=self.rank, world_size=self.world_size, gpu_ids=_local_gpu_ids())
        os.environ.update(env)
        groups = init_parallel(config.parallel, seed=seed)
        self.policy = MegatronActor(config, groups=groups, algorithm=algorithm)
        if algorithm.kl.coef > 0:
            self.reference = MegatronActor(config, groups=groups, algorithm=algorithm, trainable=False)
        return {"tp_rank": groups.tp_rank, "pp_rank": groups.pp_rank, "dp_rank": groups.dp_rank}

    def logprobs(self, sequences: SequenceBatch, temperature: float, reference: bool = False) -> torch.Tensor:
        model = self.reference if reference else self.policy
        if model is None:
            raise RuntimeError("no reference model: the KL term is off (algorithm.kl.coef=0)")
        return model.logprobs(sequences, temperature)

    def train_step(self, sequences: SequenceBatch, batch: TrainBatch, temperature: float) -> dict[str, float]:
        return self._policy.train_step(sequences, batch, temperature)

    def weight_buckets(self, bucket_bytes: int) -> list[list[tuple[str, torch.Tensor]]]:
        """The policy's weights in HF naming, in buckets; full on rank 0, empty elsewhere."""
        policy = self._policy
        buckets = iter_hf_buckets(
            policy.unwrapped, policy.hf_config, policy.groups,
            spec=policy.spec, bucket_bytes=bucket_bytes, receivers=Receivers.FIRST,
        )  # fmt: skip
        kept = [[(n, t.detach().cpu()) for n, t in bucket] for bucket in buckets]
        return kept if self.rank == 0 else []

    def push_weights(self, plan: SyncPlan) -> SyncReport | None:
        """Send the policy's weights to the rollout engines as ``plan`` says (``bridge/transports``); rank 0
        returns the report."""
        policy = self._policy

        def export(receivers: Receivers):
            return iter_hf_buckets(
                policy.unwrapped, policy.hf_config, policy.groups, spec=policy.spec, bucket_bytes=plan.bucket_bytes,
                receivers=receivers,
            )  # fmt: skip

        return self.pusher.push(plan, export)

    def offload(self, groups: list[str]) -> int:
        """Free this rank's GPU memory of ``groups`` (weights, grads, optimizer) for colocated engines; the
        reference model's weights go with the policy's. Returns bytes freed."""
        states = [StateGroup(g) for g in groups]
        freed = self._policy.offload(states)
        if self.reference is not None and StateGroup.WEIGHTS in states:
            freed += self.reference.offload([StateGroup.WEIGHTS])
        return freed

    def onload(self) -> int:
        """Everything offloaded back on this rank's GPU; returns bytes restored."""
        restored = self._policy.onload()
        return restored + (self.reference.onload() if self.reference is not None else 0)

    def save_checkpoint(self, directory: str, step: int, trainer_state: dict[str, Any], keep_last: int) -> str:
        from megatron_mmupt.checkpoint.checkpointer import save_checkpoint

        return str(save_checkpoint(Path(directory), step, self._policy, trainer_state, keep_last=keep_last))

    def load_checkpoint(self, path: str) -> dict[str, Any]:
        from megatron_mmupt.checkpoint.checkpointer import load_checkpoint

        return load_checkpoint(Path(path), self._policy)

    def export_hf(self, out: str, bucket_bytes: int) -> str | None:
        """Write the policy as an HF folder (rank 0 writes; the others stream their shards to it)."""
        import json

        from megatron_mmupt.bridge.hf_writer import write_hf_folder

        buckets = self.weight_buckets(bucket_bytes)
        if self.rank != 0:
            return None
        source = Path(self._policy.config.model)
        config = json.loads((source / "config.json").read_text())
        return str(write_hf_folder(buckets, out, config=config, files_from=source).path)

    @property
    def _policy(self) -> MegatronActor:
        if self.policy is None:
            raise RuntimeError("ActorWorker.setup has not run")
        return self.policy


def _local_gpu_ids() -> list[str]:
    if not torch.cuda.is_available():
        return []
    import ray

    return [str(i) for i in ray.get_gpu_ids()]
