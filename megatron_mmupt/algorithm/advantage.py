"""Outcome-reward advantage estimators over prompt groups, registered by name.

Every estimator takes ``(rewards, group_ids, cfg)`` and returns one advantage per sample; the losses broadcast it
over the sample's tokens. Groups are identified by an explicit id per sample (any long values, any row order),
never by position arithmetic, so a reordered or filtered batch keeps its groups. All group statistics are
computed with ``index_add_`` / ``scatter_reduce_`` over ``torch.unique(..., return_inverse=True)`` indices:
no Python loop over samples or groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from megatron_mmupt.utils.registry import Registry

if TYPE_CHECKING:
    from megatron_mmupt.algorithm.config import AdvantageConfig


class AdvantageEstimator(Protocol):
    def __call__(self, rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AdvantageConfig) -> torch.Tensor:
        """rewards ``# (N,)`` float, group_ids ``# (N,)`` long -> advantages ``# (N,)`` float32."""
        ...


ADVANTAGE_ESTIMATORS: Registry[AdvantageEstimator] = Registry(
    "advantage estimator", signature=AdvantageEstimator.__call__
)
register_advantage = ADVANTAGE_ESTIMATORS.register


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Per-group reward statistics, computed in float64 (rewards are few; cancellation errors are not).

    index         (N,) long    dense group index 0..G-1 of each sample
    count         (G,) float64 samples per group
    mean          (G,) float64
    std           (G,) float64 unbiased (Bessel-corrected) std; 0 for single-sample groups
    all_equal     (G,) bool    every reward of the group is the same (single-sample groups included)
    """

    index: torch.Tensor
    count: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    all_equal: torch.Tensor

    @property
    def num_groups(self) -> int:
        return self.count.shape[0]


def group_stats(rewards: torch.Tensor, group_ids: torch.Tensor) -> GroupStats:
    """Group statistics of ``rewards # (N,)`` under arbitrary ``group_ids # (N,)``."""
    if rewards.dim() != 1 or group_ids.shape != rewards.shape:
        raise ValueError(
            f"rewards and group_ids must both have shape (N,), got {tuple(rewards.shape)} and {tuple(group_ids.shape)}"
        )
    if group_ids.dtype.is_floating_point or group_ids.dtype == torch.bool:
        raise ValueError(f"group_ids must be an integer tensor, got {group_ids.dtype}")
    r = rewards.to(torch.float64)  # (N,)
    _, index = torch.unique(group_ids, return_inverse=True)  # (N,) in 0..G-1
    num_groups = int(index.max()) + 1 if index.numel() else 0
    zeros = r.new_zeros(num_groups)  # (G,)
    count = zeros.index_add(0, index, torch.ones_like(r))
    mean = zeros.index_add(0, index, r) / count
    sq_dev = zeros.index_add(0, index, (r - mean[index]) ** 2)
    # Unbiased variance is undefined for a single sample; std 0 there (its advantage is set to 0 anyway).
    std = (sq_dev / (count - 1).clamp(min=1)).sqrt()
    high = zeros.scatter_reduce(0, index, r, reduce="amax", include_self=False)
    low = zeros.scatter_reduce(0, index, r, reduce="amin", include_self=False)
    return GroupStats(index=index, count=count, mean=mean, std=std, all_equal=high == low)


@register_advantage("grpo")
def grpo_advantages(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AdvantageConfig) -> torch.Tensor:
    """GRPO outcome advantage ``A_i = (r_i - mean_g) / (std_g + eps)`` (Shao et al. 2024, DeepSeekMath, §4.1.2).

    ``std_g`` is the unbiased (Bessel-corrected) std and ``eps = cfg.eps`` (1e-6), as in the MM-UPT/EasyR1
    reference. Groups whose rewards are all equal, and single-sample groups (whose unbiased std is undefined;
    the reference asserts instead), get advantage exactly 0: they carry no learning signal.

    Shapes: rewards ``# (N,)``, group_ids ``# (N,)`` -> ``# (N,)`` float32.
    """
    stats = group_stats(rewards, group_ids)
    i = stats.index
    adv = (rewards.to(torch.float64) - stats.mean[i]) / (stats.std[i] + cfg.eps)  # (N,)
    return adv.masked_fill(stats.all_equal[i], 0.0).to(torch.float32)


@register_advantage("dr_grpo")
def dr_grpo_advantages(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AdvantageConfig) -> torch.Tensor:
    """Dr. GRPO advantage ``A_i = r_i - mean_g``: no division by the group std, which biases GRPO towards
    questions that are too easy or too hard (Liu et al. 2025, "Understanding R1-Zero-Like Training", §3.1).

    All-equal and single-sample groups get exactly 0. ``cfg`` is unused (same signature as every estimator).
    Shapes: rewards ``# (N,)``, group_ids ``# (N,)`` -> ``# (N,)`` float32.
    """
    stats = group_stats(rewards, group_ids)
    adv = rewards.to(torch.float64) - stats.mean[stats.index]  # (N,)
    return adv.masked_fill(stats.all_equal[stats.index], 0.0).to(torch.float32)


@register_advantage("rloo")
def rloo_advantages(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AdvantageConfig) -> torch.Tensor:
    """REINFORCE leave-one-out ``A_i = r_i - (sum_g - r_i) / (n_g - 1)`` (Ahmadian et al. 2024, "Back to Basics:
    Revisiting REINFORCE Style Optimization for Learning from Human Feedback in LLMs", §3.2; Kool et al. 2019).

    The baseline of a sample is the mean reward of the *other* samples of its group; a single-sample group has
    no other sample, so its advantage is 0 (the reference asserts instead). All-equal groups get exactly 0.
    ``cfg`` is unused. Shapes: rewards ``# (N,)``, group_ids ``# (N,)`` -> ``# (N,)`` float32.
    """
    stats = group_stats(rewards, group_ids)
    i = stats.index
    r = rewards.to(torch.float64)
    n = stats.count[i]  # (N,)
    baseline = (stats.mean[i] * n - r) / (n - 1).clamp(min=1)
    adv = r - baseline
    return adv.masked_fill(stats.all_equal[i], 0.0).to(torch.float32)
