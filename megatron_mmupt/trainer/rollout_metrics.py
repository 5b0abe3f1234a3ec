"""What a rollout batch looked like: response lengths, truncation (rates are ``perf/*``, see observability)."""

from __future__ import annotations

from collections.abc import Sequence

from megatron_mmupt.rollout.types import RolloutGroup


def rollout_metrics(groups: Sequence[RolloutGroup]) -> dict[str, float]:
    rollouts = [r for g in groups for r in g.rollouts]
    lengths = [r.num_tokens for r in rollouts]
    return {
        "response_length/mean": sum(lengths) / max(1, len(lengths)),
        "response_length/max": float(max(lengths, default=0)),
        "response_length/truncated_rate": sum(r.finish_reason.is_truncated for r in rollouts) / max(1, len(rollouts)),
    }
