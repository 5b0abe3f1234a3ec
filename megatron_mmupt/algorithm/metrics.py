"""Diagnostics of the objective: clip fractions, ratios, approximate KL, entropy, advantage statistics,
importance weights and the trainer/rollout mismatch (per weight-version lag).

Every metric is a detached 0-d tensor on the inputs' device, not a Python float: converting each one with
``.item()`` would force a host sync per metric per micro-batch; the logger converts them once per step.
Token metrics are means over the micro-batch's masked tokens (0 when it has none, never NaN).
"""

from __future__ import annotations

import torch

from megatron_mmupt.algorithm.importance import ImportanceWeights
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


def effective_sample_size(log_weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Normalized effective sample size ``(sum w)^2 / (n sum w^2)`` of the weights ``w = exp(log_weights)`` where
    ``mask`` (Kish 1965; Kong 1992): 1 when all weights are equal, ``1/n`` when one weight dominates; verl's
    ``rollout_is_eff_sample_size``. Scale-free, so it is computed from ``exp(log w - max log w)``: no overflow.
    1 when the mask is empty, 0 when every weight is 0. ``# (...)`` -> ``# ()``, detached.
    """
    log_w = log_weights.detach().double()
    lowest = torch.full((), float("-inf"), dtype=log_w.dtype, device=log_w.device)
    log_w = torch.where(mask, log_w, lowest)
    top = log_w.max() if log_w.numel() else lowest
    w = torch.where(mask & (log_w > lowest), (log_w - top).exp(), 0.0)
    n, total, square = mask.sum(), w.sum(), w.square().sum()
    ess = torch.where(square > 0, total.square() / (n * square).clamp(min=torch.finfo(w.dtype).tiny), 0.0)
    return torch.where(n > 0, ess, 1.0)


def importance_metrics(weights: ImportanceWeights, mask: torch.Tensor) -> Metrics:
    """``off_policy/weight_mean``, ``truncated_frac``, ``vetoed_frac`` and ``ess`` (:func:`effective_sample_size`
    of the weights actually used) over the masked tokens. Shapes: ``# (N, T)``, mask bool."""
    w = weights.weights.detach()
    return {
        "off_policy/weight_mean": masked_mean(w, mask),
        "off_policy/truncated_frac": masked_mean(weights.truncated.float(), mask),
        "off_policy/vetoed_frac": masked_mean(weights.vetoed.float(), mask),
        "off_policy/ess": effective_sample_size(w.log(), mask),
    }


def logprob_mismatch_metrics(
    train_logprobs: torch.Tensor,
    rollout_logprobs: torch.Tensor,
    mask: torch.Tensor,
    version_lag: torch.Tensor | None = None,
) -> Metrics:
    """How far the trainer's log-probs of the sampled tokens are from those the rollout engine reported.

    The same weights should give the same log-probs; kernels, precision, batching and, in an asynchronous run,
    stale weights make them differ; a large gap means the update is off-policy (what ``algorithm.off_policy``
    corrects) or the weight sync is broken. Shapes: log-probs and mask ``# (N, T)``, version_lag ``# (N,)``.
    With ``rho_t = pi_train / pi_rollout``, over the masked tokens:

    * ``mismatch/logprob_abs_diff_mean`` / ``_max``: the log-prob gap ``|log pi_train - log pi_rollout|``;
    * ``mismatch/k3_kl``: k3 estimate of KL(pi_rollout || pi_train) (Schulman 2020), tokens being sampled from
      pi_rollout; it is the clamped :func:`~megatron_mmupt.algorithm.kl.k3_kl`, so a token counts at most 10;
    * ``mismatch/ess_token`` / ``ess_seq``: :func:`effective_sample_size` of the untruncated ``rho_t`` and of the
      sequence ratios ``prod_t rho_t`` (over sequences with a token): how many samples the batch is worth.

    With ``version_lag``, the same metrics for the rows of each lag ``k`` present, as ``mismatch/lag<k>/*``, plus
    ``mismatch/lag<k>/num_samples``. NOTE: listing the lags present costs one host sync.
    """
    train_logprobs, rollout_logprobs = train_logprobs.detach().float(), rollout_logprobs.detach().float()
    metrics = _mismatch(train_logprobs, rollout_logprobs, mask, "mismatch/")
    if version_lag is None:
        return metrics
    for lag in torch.unique(version_lag).tolist():
        rows = version_lag == lag  # (N,)
        prefix = f"mismatch/lag{lag}/"
        metrics |= _mismatch(train_logprobs, rollout_logprobs, mask & rows.unsqueeze(-1), prefix)
        metrics[f"{prefix}num_samples"] = rows.sum()
    return metrics


def _mismatch(train: torch.Tensor, rollout: torch.Tensor, mask: torch.Tensor, prefix: str) -> Metrics:
    log_rho = torch.where(mask, train - rollout, 0.0)  # (N, T)
    return {
        f"{prefix}logprob_abs_diff_mean": masked_mean(log_rho.abs(), mask),
        f"{prefix}logprob_abs_diff_max": masked_max(log_rho.abs(), mask),
        f"{prefix}k3_kl": masked_mean(k3_kl(rollout, train), mask),
        f"{prefix}ess_token": effective_sample_size(log_rho, mask),
        f"{prefix}ess_seq": effective_sample_size(log_rho.sum(dim=-1), mask.any(dim=-1)),
    }
