"""torch.distributed + Megatron parallel state for the actor: gloo on CPU, NCCL on GPU.

Megatron-Core keeps its process groups in module-level state (``parallel_state``); this is the one place
that creates them. Callers get the groups they need back and pass them on explicitly.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist

from megatron_mmupt.parallel.config import ParallelConfig


@dataclasses.dataclass(frozen=True)
class ParallelGroups:
    """This rank's place in the layout and the groups collectives use."""

    tp_rank: int
    tp_size: int
    pp_rank: int
    pp_size: int
    dp_rank: int
    dp_size: int
    tp_group: dist.ProcessGroup
    pp_group: dist.ProcessGroup
    dp_group: dist.ProcessGroup

    @property
    def is_first_stage(self) -> bool:
        return self.pp_rank == 0

    @property
    def is_last_stage(self) -> bool:
        return self.pp_rank == self.pp_size - 1


def init_parallel(parallel: ParallelConfig, seed: int = 1) -> ParallelGroups:
    """Initialize (once) the process group from the torchrun/launcher environment and Megatron's groups."""
    from megatron.core import parallel_state as ps
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed

    from megatron_mmupt.actor.megatron import cpu_shim

    cpu_shim.apply()
    if torch.cuda.is_available():  # before NCCL starts, and also when a launcher made the group already
        torch.cuda.set_device(_local_rank())
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    world = dist.get_world_size()
    model_parallel = parallel.tensor_degree * parallel.pipeline_degree
    if world % model_parallel:
        raise ValueError(f"world size {world} is not a multiple of tensor_degree x pipeline_degree = {model_parallel}")
    if not ps.model_parallel_is_initialized():
        ps.initialize_model_parallel(parallel.tensor_degree, parallel.pipeline_degree)
    model_parallel_cuda_manual_seed(seed)
    return ParallelGroups(
        tp_rank=ps.get_tensor_model_parallel_rank(),
        tp_size=ps.get_tensor_model_parallel_world_size(),
        pp_rank=ps.get_pipeline_model_parallel_rank(),
        pp_size=ps.get_pipeline_model_parallel_world_size(),
        dp_rank=ps.get_data_parallel_rank(),
        dp_size=ps.get_data_parallel_world_size(),
        tp_group=ps.get_tensor_model_parallel_group(),
        pp_group=ps.get_pipeline_model_parallel_group(),
        dp_group=ps.get_data_parallel_group(),
    )


def local_device() -> torch.device:
    """The device this rank computes on: ``cuda:<local rank>`` on GPUs (``init_parallel`` selects it), the
    device-strict shim's logical ``cuda`` on CPU (so placement bugs raise), the CPU under the plain shim."""
    from megatron_mmupt.actor.megatron import device_strict

    if torch.cuda.is_available() or device_strict.is_enabled():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _local_rank() -> int:
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    return dist.get_rank() % torch.cuda.device_count() if dist.is_initialized() else 0


def destroy_parallel() -> None:
    from megatron.core import parallel_state as ps

    ps.destroy_model_parallel()
    if dist.is_initialized():
        dist.destroy_process_group()
