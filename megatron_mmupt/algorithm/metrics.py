"""Diagnostics of the objective: clip fractions, ratios, approximate KL, entropy, advantage statistics.

Every metric is a detached 0-d tensor on the inputs' device, not a Python float: converting each one with
``.item()`` would force a host sync per metric per micro-batch; the logger converts them once per step.
Token metrics are means over the micro-batch's masked tokens (0 when it has none, never NaN).
"""

from __future__ import annotations

import torch

from megatron_mmupt.algorithm.kl import k3_kl
from megatron_mmupt.algorithm.losses import PolicyLossTerms

Metrics = dict[str, torch.Tensor]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` (same shape), 0 if the mask is empty. Returns ``# ()``, detached."""
    values = values.detach()
    total = torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum()
    return total / mask.sum().clamp(min=1)


def masked_max(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max of ``values`` where ``mask``, 0 if the mask is empty. Returns ``# ()``, detached."""
    values = values.detach()
    if values.numel() == 0:
        return values.new_zeros(())
    lowest = torch.full((), float("-inf"), dtype=values.dtype, device=values.device)
    top = torch.where(mask, values, lowest).max()
    return torch.where(mask.any(), top, torch.zeros_like(top))


def policy_metrics(
    terms: PolicyLossTerms, logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor
) -> Metrics:
    """Clip fractions, ratio mean/max and two estimates of KL(pi_old || pi_theta) over masked tokens.

    Shapes: terms of ``# (N, T)``, logprobs and old_logprobs ``# (N, T)``, mask ``# (N, T)`` bool.
    ``clip_frac_low`` / ``clip_frac_high``: fraction of tokens whose gradient the lower / upper PPO clip removed;
    ``clip_frac_dual``: fraction bounded by the dual clip. With ``r_t = pi_theta / pi_old`` (Schulman 2020):

    * ``policy/approx_kl``: k3, ``mean(r_t - log r_t - 1)``, >= 0 per token, low variance;
    * ``policy/ppo_kl``: k1, ``mean(old_logp_t - logp_t)``, verl's ``actor/ppo_kl`` (and its "approx_kl"), which can
      be negative. Both are unbiased for the same KL, but they differ on every batch; compare like with like.
    """
    return {
        "policy/clip_frac_low": masked_mean(terms.clipped_low.float(), mask),
        "policy/clip_frac_high": masked_mean(terms.clipped_high.float(), mask),
        "policy/clip_frac_dual": masked_mean(terms.clipped_dual.float(), mask),
        "policy/ratio_mean": masked_mean(terms.ratio, mask),
        "policy/ratio_max": masked_max(terms.ratio, mask),
        # Tokens were sampled from pi_old, so k3 with r = pi_theta / pi_old estimates KL(pi_old || pi_theta).
        "policy/approx_kl": masked_mean(k3_kl(old_logprobs.detach(), logprobs.detach()), mask),
        "policy/ppo_kl": masked_mean(old_logprobs - logprobs, mask),  # k1, as verl's ppo_kl
    }


def sample_metrics(values: torch.Tensor, valid: torch.Tensor, prefix: str) -> Metrics:
    """``{prefix}mean / std / min / max`` of ``values # (N,)`` over the ``valid # (N,)`` samples; 0 when none.

    Masked (no boolean indexing), so no host sync is needed on a GPU.
    """
    v = values.detach().float()
    mean = masked_mean(v, valid)
    return {
        f"{prefix}mean": mean,
        f"{prefix}std": masked_mean((v - mean).square(), valid).sqrt(),
        f"{prefix}min": -masked_max(-v, valid),
        f"{prefix}max": masked_max(v, valid),
    }


def logprob_mismatch_metrics(
    train_logprobs: torch.Tensor, rollout_logprobs: torch.Tensor, mask: torch.Tensor
) -> Metrics:
    """How far the trainer's log-probs of the sampled tokens are from those the rollout engine reported.

    The same weights should give the same log-probs; kernels, precision and batching make them differ, and a
    large gap means the update is off-policy (what TIS corrects) or the weight sync is broken. Shapes: all
    ``# (N, T)``, mask bool. Over the masked tokens:

    * ``mismatch/logprob_abs_diff_mean`` / ``_max``: ``|log pi_train - log pi_rollout|``;
    * ``mismatch/k3_kl``: k3 estimate of KL(pi_rollout || pi_train) (Schulman 2020), tokens being sampled from
      pi_rollout; it is the clamped :func:`~megatron_mmupt.algorithm.kl.k3_kl`, so a token counts at most 10.
    """
    train_logprobs, rollout_logprobs = train_logprobs.detach().float(), rollout_logprobs.detach().float()
    diff = (train_logprobs - rollout_logprobs).abs()
    return {
        "mismatch/logprob_abs_diff_mean": masked_mean(diff, mask),
        "mismatch/logprob_abs_diff_max": masked_max(diff, mask),
        "mismatch/k3_kl": masked_mean(k3_kl(rollout_logprobs, train_logprobs), mask),
    }
