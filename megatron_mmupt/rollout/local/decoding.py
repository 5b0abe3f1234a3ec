"""The batched decode loop of the local engine: one prefill per prompt, then one token per row per step.

Rows are samples. The ``B`` distinct prompts are prefilled once, left-padded, with their own 3-D rope ids
(``Prompt.position_ids``, so no position is recomputed); the KV cache is then repeated to the ``R`` rows
(``n`` per prompt), so the ``n`` samples of a prompt share its prefill, images included. Each step feeds
every live row its last token at position ``prompt_length + step + rope_delta`` (``data.rope``). Rows that
finish stop sampling; when a quarter of the rows are done the cache is compacted to the live ones, which
bounds the work of finished rows without copying the cache at every finish.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from megatron_mmupt.rollout.local.token_sampler import TokenSampler
from megatron_mmupt.rollout.types import FinishReason

COMPACT_BELOW_LIVE_FRACTION = 0.75
"""Compact the KV cache to the live rows once fewer than this fraction of its rows are live."""


class ModelRunner:
    """Forward passes of a transformers causal LM, multimodal (Qwen2-VL family, 3-D rope) or text-only."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.is_multimodal = getattr(model.config, "vision_config", None) is not None
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def prefill(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
        """``PromptBatch.collate`` output (left-padded) -> ``(last logits # (B, V), KV cache)``."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        kwargs: dict[str, Any] = {
            "input_ids": inputs["input_ids"].to(self.device),
            "attention_mask": inputs["attention_mask"].to(self.device),
            "past_key_values": cache,
            "use_cache": True,
            "logits_to_keep": 1,
        }
        positions = inputs["position_ids"].to(self.device)  # (3, B, L)
        if self.is_multimodal:
            kwargs["position_ids"] = positions
            if inputs["pixel_values"].numel():
                kwargs["pixel_values"] = inputs["pixel_values"].to(self.device, self._dtype())
                kwargs["image_grid_thw"] = inputs["image_grid_thw"].to(self.device)
        else:
            kwargs["position_ids"] = positions[0]  # text-only prompts: all three axes are equal
        return self.model(**kwargs).logits[:, -1], cache

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor, cache: Any):
        """One token per row: ``tokens # (C,)`` at ``positions # (C,)`` -> logits ``# (C, V)``."""
        position_ids = positions.view(1, -1, 1).expand(3, -1, 1) if self.is_multimodal else positions[:, None]
        out = self.model(
            input_ids=tokens[:, None],
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        )
        return out.logits[:, -1]

    def _dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype


@dataclasses.dataclass(frozen=True, slots=True)
class RowPlan:
    """The rows of one decode batch.

    Attributes:
        prompt_index: ``# (R,)`` long, the prompt (row of the collated batch) each row samples from.
        start_position: ``# (R,)`` long, rope position of the row's first response token (length + delta).
        max_new_tokens: ``# (R,)`` long, the row's token budget (``max_new_tokens`` capped by the context).
    """

    prompt_index: torch.Tensor
    start_position: torch.Tensor
    max_new_tokens: torch.Tensor

    @property
    def num_rows(self) -> int:
        return int(self.prompt_index.shape[0])


@dataclasses.dataclass(slots=True)
class DecodeResult:
    """Per row: sampled token ids, their log-probs, and why sampling stopped."""

    token_ids: list[list[int]]
    logprobs: list[list[float]]
    finish: list[FinishReason]


def decode(
    runner: ModelRunner,
    inputs: dict[str, torch.Tensor],
    plan: RowPlan,
    sampler: TokenSampler,
    stop_ids: torch.Tensor,
    pad_token_id: int,
    between_steps: Callable[[], bool],
) -> DecodeResult:
    """Sample every row of ``plan`` to a stop token or its budget.

    ``between_steps`` runs after every step; when it returns True the live rows finish ``abort`` (the
    engine's pause). ``stop_ids # (S,)`` long are the EOS and stop ids (kept in the output).
    """
    device = runner.device
    num_rows = plan.num_rows
    logits, cache = runner.prefill(inputs)  # (B, V)
    index = plan.prompt_index.to(device)
    cache.batch_select_indices(index)  # (B, ...) -> (R, ...): the rows share their prompt's prefill
    logits = logits[index]
    mask = inputs["attention_mask"].to(device)[index]  # (R, L)
    rows = torch.arange(num_rows)  # cache row -> plan row
    live = torch.ones(num_rows, dtype=torch.bool)  # per cache row
    result = DecodeResult([[] for _ in range(num_rows)], [[] for _ in range(num_rows)], [FinishReason.ABORT] * num_rows)
    stop_ids = stop_ids.to(device)
    for step in range(int(plan.max_new_tokens.max())):
        live_rows = live.nonzero().squeeze(1)  # (C',) cache rows still sampling
        tokens, logprobs = sampler(logits[live_rows.to(device)], rows[live_rows])
        _record(result, rows[live_rows].tolist(), tokens.tolist(), logprobs.tolist())
        stopped = torch.isin(tokens, stop_ids).cpu()
        full = (plan.max_new_tokens[rows[live_rows]] <= step + 1) & ~stopped
        for cache_row, is_stop, is_full in zip(live_rows.tolist(), stopped.tolist(), full.tolist(), strict=True):
            if is_stop or is_full:
                live[cache_row] = False
                result.finish[int(rows[cache_row])] = FinishReason.STOP if is_stop else FinishReason.LENGTH
        if not live.any() or between_steps():
            break  # rows still live after an abort keep FinishReason.ABORT
        next_tokens = torch.full((rows.shape[0],), pad_token_id, dtype=torch.long, device=device)
        next_tokens[live_rows.to(device)] = tokens
        if live.float().mean() < COMPACT_BELOW_LIVE_FRACTION:
            keep = live.nonzero().squeeze(1)
            cache.batch_select_indices(keep.to(device))
            mask, next_tokens, rows, live = mask[keep.to(device)], next_tokens[keep.to(device)], rows[keep], live[keep]
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)  # (C, L + step + 1)
        positions = (plan.start_position[rows] + step).to(device)
        logits = runner.step(next_tokens, mask, positions, cache)
    return result


def _record(result: DecodeResult, rows: list[int], tokens: list[int], logprobs: list[float]) -> None:
    for row, token, logprob in zip(rows, tokens, logprobs, strict=True):
        result.token_ids[row].append(token)
        result.logprobs[row].append(logprob)
