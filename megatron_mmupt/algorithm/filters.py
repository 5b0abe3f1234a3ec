"""Sample filters applied after the advantages are computed, with their counts as metrics.

* Zero-advantage groups: when every sample of a prompt gets the same reward (all voted the same answer, or all
  failed), group-normalized advantages are 0 and the policy loss gives no gradient. ``drop`` removes those rows,
  which saves the forward/backward passes (the filter of DAPO's dynamic sampling, Yu et al. 2025, §3.2);
  ``keep`` trains on them, where only the KL and entropy terms act (the MM-UPT reference).
  Single-sample groups count as all-equal.
* Overlong responses (truncated at the length limit, so their final answer is missing or cut): ``mask``
  excludes their tokens from the loss (DAPO's overlong filtering, §3.4); ``keep`` trains on them (reference).
  They still take part in their group's vote and advantage statistics, which happen before filtering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch

from megatron_mmupt.algorithm.advantage import group_stats

if TYPE_CHECKING:
    from megatron_mmupt.algorithm.config import FilterConfig


class FilterResult(NamedTuple):
    """keep ``# (N,)`` bool rows to keep; response_mask ``# (N, T)`` bool after masking; metrics (0-d tensors)."""

    keep: torch.Tensor
    response_mask: torch.Tensor
    metrics: dict[str, torch.Tensor]


def apply_filters(
    rewards: torch.Tensor,
    group_ids: torch.Tensor,
    response_mask: torch.Tensor,
    truncated: torch.Tensor,
    cfg: FilterConfig,
) -> FilterResult:
    """Apply both filters of ``cfg``.

    Shapes: rewards ``# (N,)``, group_ids ``# (N,)`` long, response_mask ``# (N, T)`` bool, truncated ``# (N,)``
    bool. Returns the rows to keep, the (possibly) masked response mask, and the counts:
    ``filter/num_groups``, ``filter/num_zero_adv_groups``, ``filter/num_dropped_samples``,
    ``filter/num_truncated``, ``filter/num_masked_truncated``.
    """
    stats = group_stats(rewards, group_ids)
    zero_adv = stats.all_equal[stats.index]  # (N,)
    keep = ~zero_adv if cfg.zero_advantage_groups == "drop" else torch.ones_like(zero_adv)
    masked = truncated if cfg.overlong == "mask" else torch.zeros_like(truncated)
    metrics = {
        "filter/num_groups": torch.tensor(stats.num_groups),
        "filter/num_zero_adv_groups": stats.all_equal.sum(),
        "filter/num_dropped_samples": (~keep).sum(),
        "filter/num_truncated": truncated.sum(),
        "filter/num_masked_truncated": (masked & keep).sum(),
    }
    return FilterResult(keep, response_mask & ~masked.unsqueeze(-1), metrics)
