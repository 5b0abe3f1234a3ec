"""Forward passes through Megatron's pipeline schedule (any TP/PP), returning full-vocabulary logits.

Used by the parity check and by log-prob evaluation. Inputs are one dict per micro-batch
(``input_ids (B, S)``, ``position_ids (3, B, S)``, optional ``pixel_values``/``image_grid_thw``); every
micro-batch must have the same ``(B, S)``, as Megatron's pipeline communication requires.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist

from megatron_mmupt.actor.megatron.distributed import ParallelGroups


def gather_vocab(logits: torch.Tensor, groups: ParallelGroups) -> torch.Tensor:
    """``(B, S, V/tp)`` vocab-parallel logits -> ``(B, S, V)`` on every TP rank (rank order = vocab order)."""
    if groups.tp_size == 1:
        return logits
    parts = [torch.empty_like(logits) for _ in range(groups.tp_size)]
    dist.all_gather(parts, logits.contiguous(), group=groups.tp_group)
    return torch.cat(parts, dim=-1)


@torch.no_grad()
def forward_logits(
    model: torch.nn.Module, micro_batches: list[dict[str, Any]], groups: ParallelGroups
) -> list[torch.Tensor] | None:
    """Logits ``(B, S, V)`` per micro-batch on the last pipeline stage, ``None`` on the other stages."""
    from megatron.core.pipeline_parallel import get_forward_backward_func

    batch, seq = micro_batches[0]["input_ids"].shape
    if any(mb["input_ids"].shape != (batch, seq) for mb in micro_batches):
        raise ValueError("every micro-batch must have the same (batch, sequence) shape for pipeline communication")

    def step(data: Iterator[dict[str, Any]], chunk: torch.nn.Module):
        output = chunk(**next(data))
        return output, lambda out, non_loss_data=True: gather_vocab(out, groups)

    outputs = get_forward_backward_func()(
        forward_step_func=step,
        data_iterator=iter(micro_batches),
        model=[model],
        num_microbatches=len(micro_batches),
        seq_length=seq,
        micro_batch_size=batch,
        forward_only=True,
        collect_non_loss_data=True,
    )
    return list(outputs) if groups.is_last_stage else None
