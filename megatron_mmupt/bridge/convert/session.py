"""Process groups for the converters: under ``torchrun`` (any world size, multi-node) or in one plain process.

``parallel_session(parallel)`` joins the launch's process group (``torchrun`` sets ``MASTER_ADDR``,
``WORLD_SIZE``, ``RANK``; a test launcher may have created it already) or, in a plain process, creates a
1-rank gloo group in memory; then it builds Megatron's TP/PP groups and tears down, on exit, exactly what it
created, so several conversions can run one after another in one process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist

from megatron_mmupt.actor.megatron.distributed import ParallelGroups, init_parallel
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.parallel.config import ParallelConfig

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class ConvertReport:
    """What one rank did; the command line prints rank 0's."""

    out: Path
    rank: int
    tensor_degree: int
    pipeline_degree: int
    data_degree: int
    seconds: float

    def summary(self, what: str) -> str:
        return (
            f"wrote {self.out} ({what}) at tp={self.tensor_degree} pp={self.pipeline_degree} "
            f"dp={self.data_degree} in {self.seconds:.1f} s"
        )


def launch_world_size() -> int:
    """Ranks of this launch: the process group's, else torchrun's ``WORLD_SIZE``, else 1."""
    if dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


@contextlib.contextmanager
def parallel_session(parallel: ParallelConfig) -> Iterator[ParallelGroups]:
    """This rank's ``ParallelGroups`` for ``parallel``; what this call initialized is destroyed on exit."""
    from megatron.core import parallel_state as ps

    world, model_parallel = launch_world_size(), parallel.tensor_degree * parallel.pipeline_degree
    if world % model_parallel:
        raise ConfigError(
            f"tp={parallel.tensor_degree} x pp={parallel.pipeline_degree} needs a multiple of {model_parallel} "
            f"ranks, this launch has {world}; run under `torchrun --nproc_per_node={model_parallel} ...`"
        )
    created_group = not dist.is_initialized()
    if created_group and world == 1 and "RANK" not in os.environ:  # a plain process: no rendezvous to join
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    created_megatron = not ps.model_parallel_is_initialized()
    if not created_megatron and (
        ps.get_tensor_model_parallel_world_size(),
        ps.get_pipeline_model_parallel_world_size(),
    ) != (parallel.tensor_degree, parallel.pipeline_degree):
        raise ConfigError("Megatron's model-parallel groups already exist with another TP/PP layout in this process")
    try:
        yield init_parallel(parallel)
    finally:
        if created_megatron:
            ps.destroy_model_parallel()
        if created_group and dist.is_initialized():
            dist.destroy_process_group()


def call_collectively(fn: Callable[[], T], what: str = "conversion") -> T:
    """Run ``fn`` on every rank; if it raises on any rank, raise on every rank instead of leaving peers waiting.

    The failing rank re-raises its own exception (its type is kept: ``InputError`` stays a one-line CLI error);
    the others raise ``RuntimeError`` naming ``what`` and the failed ranks. ``fn`` must not itself hang on a
    failed peer.
    """
    result, error = None, None
    try:
        result = fn()
    except Exception as e:
        error = e
    messages: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(messages, None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    failed = [f"rank {rank}: {message}" for rank, message in enumerate(messages) if message is not None]
    if failed:
        raise RuntimeError(f"{what} failed on another rank: " + "; ".join(failed))
    return result
