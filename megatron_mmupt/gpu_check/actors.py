"""The check's Megatron actors (policy and KL reference) and the GRPO batch they train on, shared by sections.

``build_actor`` is the one place that constructs a ``MegatronActor``: when its constructor changes, only this
function follows. The actor owns its device (``actor.device``: the local GPU; the device-strict shim's logical
``cuda:0`` under ``--cpu --device-strict``) and places its models and data itself; the check never moves them,
since a model or a batch that does not reach the GPU is a defect the check exists to catch.

World size 1 in this process: ``init_parallel`` joins a one-rank group (NCCL on GPU, gloo on CPU) from the
``MASTER_ADDR``/``MASTER_PORT`` the CLI sets, so no torchrun is needed.
"""

from __future__ import annotations

import dataclasses
import gc
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.gpu_check.workload import Workload, response_token_range

TEMPERATURE = 1.0


@dataclasses.dataclass(slots=True)
class GrpoInputs:
    """One GRPO batch: ``num_prompts x samples`` sequences with fixed-length random responses."""

    sequences: Any
    """``SequenceBatch``: ``(N, L)`` right-padded prompt + response ids."""
    rewards: torch.Tensor
    """``(N,)``: 1, 0, 1, 0... inside every group, so no group has zero advantage and no filter drops it."""
    group_ids: torch.Tensor
    """``(N,)``: the prompt of each sequence."""

    @property
    def num_tokens(self) -> int:
        """Real (unpadded) tokens: prompts and responses."""
        return int((self.sequences.prompt_lengths + self.sequences.response_lengths).sum())


@dataclasses.dataclass(slots=True)
class ActorContext:
    """What the grpo and offload sections share: the process group, the actors once built, the last step."""

    workload: Workload
    model_dir: Path
    prompts: list[Any]
    groups: Any = None
    policy: Any = None
    reference: Any = None
    build_error: str | None = None
    steps_taken: int = 0
    step_peak_bytes: int | None = None
    """``torch.cuda.max_memory_allocated`` over the last measured update (GPU only)."""

    def parallel_groups(self) -> Any:
        if self.groups is None:
            from megatron_mmupt.actor.megatron.distributed import init_parallel
            from megatron_mmupt.parallel.config import ParallelConfig

            self.groups = init_parallel(ParallelConfig())
        return self.groups

    def actors(self) -> tuple[Any, Any]:
        """The policy and its frozen KL reference, built once from the model folder.

        A failed build is not retried by later sections: it would fail the same way, after the same minute of
        initializing weights on the host.
        """
        from megatron_mmupt.algorithm.config import AlgorithmConfig

        if self.build_error is not None:
            raise RuntimeError(f"the actors failed to build in an earlier section: {self.build_error}")
        if self.policy is None:
            groups, algorithm = self.parallel_groups(), AlgorithmConfig()
            try:
                policy = build_actor(self.workload, self.model_dir, groups, algorithm, trainable=True)
                reference = build_actor(self.workload, self.model_dir, groups, algorithm, trainable=False)
            except Exception as error:
                self.build_error = repr(error)
                raise
            self.policy, self.reference = policy, reference
        return self.policy, self.reference

    def release(self) -> None:
        """Drop the actors (the engine and IPC sections need the memory)."""
        self.policy = self.reference = None
        gc.collect()
        if self.workload.mode == "gpu":
            torch.cuda.empty_cache()


def build_actor(workload: Workload, model_dir: Path, groups: Any, algorithm: Any, *, trainable: bool) -> Any:
    """A ``MegatronActor`` as training builds it: bf16, local spec, weights through the bridge."""
    from megatron_mmupt.actor.megatron.actor import MegatronActor, OptimizerConfig

    config = MegatronActor.Config(
        model=str(model_dir), micro_batch_size=workload.micro_batch_size, params_dtype="bf16", spec="local",
        optimizer=OptimizerConfig(lr=1e-6),
    )  # fmt: skip
    return MegatronActor(config, groups=groups, algorithm=algorithm, trainable=trainable)


def grpo_inputs(workload: Workload, model_dir: Path, prompts: list[Any]) -> GrpoInputs:
    from megatron_mmupt.actor.sequences import build_sequences
    from megatron_mmupt.data.processing import load_processors

    generator = torch.Generator().manual_seed(0)
    high = response_token_range(model_dir)
    repeated = [p for p in prompts for _ in range(workload.samples)]
    responses = [torch.randint(0, high, (workload.response_tokens,), generator=generator).tolist() for _ in repeated]
    sequences = build_sequences(repeated, responses, load_processors(model_dir).pad_token_id)
    rewards = torch.tensor([float(j % 2 == 0) for _ in prompts for j in range(workload.samples)])
    group_ids = torch.arange(len(prompts)).repeat_interleave(workload.samples)
    return GrpoInputs(sequences, rewards, group_ids)
