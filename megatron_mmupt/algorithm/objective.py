"""The GRPO objective of one micro-batch: policy loss (x importance weights) + KL penalty - entropy bonus.

    loss = agg(w * l_pg) + kl.coef * agg(kl(logp, ref_logp)) - entropy.coef * agg(H)

with ``l_pg`` the registered per-token policy loss (clipped around the proximal policy ``old_logprobs``), ``w``
the registered importance weighting of ``algorithm.off_policy`` (behaviour ``rollout_logprobs`` -> proximal,
:mod:`.importance`; 1 when none is set), ``agg`` the registered aggregation and its *global*
:class:`LossNormalizer`, so that the losses of the micro-batches of one global batch add up to the full-batch loss (values and gradients). This is GRPO's objective (Shao et al. 2024, eq. 3)
with the KL moved out of the clipped term as GRPO does, DAPO's clip-higher and token-level mean
(Yu et al. 2025) and dual-clip (Ye et al. 2020) by default.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from megatron_mmupt.algorithm.aggregation import AGGREGATIONS
from megatron_mmupt.algorithm.config import AlgorithmConfig
from megatron_mmupt.algorithm.importance import IMPORTANCE_WEIGHTINGS
from megatron_mmupt.algorithm.kl import KL_ESTIMATORS
from megatron_mmupt.algorithm.losses import POLICY_LOSSES
from megatron_mmupt.algorithm.metrics import Metrics, importance_metrics, masked_mean, policy_metrics, sample_metrics
from megatron_mmupt.algorithm.numerics import guard_finite
from megatron_mmupt.algorithm.types import LossNormalizer, TrainBatch


class _CleanInputs(NamedTuple):
    mask: torch.Tensor  # (N, T) bool: response mask and every used input finite
    logprobs: torch.Tensor  # (N, T), all below are 0 where not finite
    old_logprobs: torch.Tensor
    ref_logprobs: torch.Tensor | None
    rollout_logprobs: torch.Tensor | None
    entropy: torch.Tensor | None


def policy_objective(
    logprobs: torch.Tensor,
    batch: TrainBatch,
    cfg: AlgorithmConfig,
    *,
    normalizer: LossNormalizer | None = None,
    entropy: torch.Tensor | None = None,
) -> tuple[torch.Tensor, Metrics]:
    """Loss of one micro-batch and its metrics.

    Args:
        logprobs: ``# (N, T)`` log-probs of the response tokens under the current policy (differentiable),
            e.g. from :func:`megatron_mmupt.algorithm.logprobs.token_logprobs_and_entropy`.
        batch: the micro-batch's :class:`TrainBatch` (rows aligned with ``logprobs``).
        cfg: the algorithm config.
        normalizer: global-batch counts; ``None`` means this micro-batch is the whole batch. Pass
            ``LossNormalizer.from_mask(global_batch.response_mask)`` to every micro-batch of a global batch.
        entropy: ``# (N, T)`` per-token entropy of the current policy, or ``None``; reported as a metric, and
            subtracted as a bonus when ``cfg.entropy.coef > 0`` (then it must be differentiable and given).

    Returns:
        ``(loss # (), metrics)``; metrics are detached 0-d tensors (see :mod:`.metrics`).
    """
    norm = normalizer if normalizer is not None else LossNormalizer.from_mask(batch.response_mask)
    inputs, metrics = _clean_inputs(logprobs, batch, cfg, entropy)
    mask = inputs.mask
    aggregate = AGGREGATIONS.get(cfg.loss_aggregation)

    terms = POLICY_LOSSES.get(cfg.policy_loss.name)(
        inputs.logprobs, inputs.old_logprobs, batch.advantages, mask, cfg.policy_loss
    )
    per_token = terms.loss  # (N, T)
    if inputs.rollout_logprobs is not None:  # given only when cfg.off_policy.weighting is set
        weighting = IMPORTANCE_WEIGHTINGS.get(cfg.off_policy.weighting)
        weights = weighting(inputs.old_logprobs, inputs.rollout_logprobs, mask, cfg.off_policy)
        per_token = per_token * weights.weights  # (N, T): each token's own term, weighted by its own w_t
        metrics |= importance_metrics(weights, mask)
    loss = policy_loss = aggregate(per_token, mask, norm)
    metrics |= policy_metrics(terms, inputs.logprobs, inputs.old_logprobs, mask)
    metrics |= sample_metrics(batch.advantages, mask.any(dim=-1), prefix="policy/advantage_")

    if inputs.ref_logprobs is not None:
        kl = KL_ESTIMATORS.get(cfg.kl.estimator)(inputs.logprobs, inputs.ref_logprobs)  # (N, T)
        kl_loss = aggregate(kl, mask, norm)
        loss = loss + cfg.kl.coef * kl_loss
        metrics["kl/loss"] = kl_loss.detach()
        metrics["kl/mean"] = masked_mean(kl, mask)
    if inputs.entropy is not None:
        metrics["entropy/mean"] = masked_mean(inputs.entropy, mask)
        if cfg.entropy.coef > 0:
            entropy_loss = aggregate(inputs.entropy, mask, norm)
            loss = loss - cfg.entropy.coef * entropy_loss
            metrics["entropy/loss"] = entropy_loss.detach()
    metrics["loss/policy"] = policy_loss.detach()
    metrics["loss/total"] = loss.detach()
    metrics["num_tokens"] = mask.sum()
    return loss, metrics


def _clean_inputs(
    logprobs: torch.Tensor, batch: TrainBatch, cfg: AlgorithmConfig, entropy: torch.Tensor | None
) -> tuple[_CleanInputs, Metrics]:
    """Pick the inputs the config uses, check each for NaN/inf (see :mod:`.numerics`), zero the padding."""
    if logprobs.shape != batch.response_mask.shape:
        raise ValueError(f"logprobs has shape {tuple(logprobs.shape)}, the batch {tuple(batch.response_mask.shape)}")
    needed = {
        "old_logprobs": batch.old_logprobs,
        "ref_logprobs": batch.ref_logprobs if cfg.kl.coef > 0 else None,
        "rollout_logprobs": batch.rollout_logprobs if cfg.off_policy.weighting is not None else None,
        "entropy": entropy,
    }
    if cfg.kl.coef > 0 and batch.ref_logprobs is None:
        raise ValueError("algorithm.kl.coef > 0 needs batch.ref_logprobs; compute them or set algorithm.kl.coef=0")
    if cfg.off_policy.weighting is not None and batch.rollout_logprobs is None:
        raise ValueError(
            f"algorithm.off_policy.weighting={cfg.off_policy.weighting} needs batch.rollout_logprobs (the behaviour "
            "policy's); the rollout engine must report them, or set algorithm.off_policy.weighting=none"
        )
    if cfg.entropy.coef > 0 and entropy is None:
        raise ValueError("algorithm.entropy.coef > 0 needs the per-token entropy; pass entropy=...")

    logprobs, mask, num_bad = guard_finite("logprobs", logprobs, batch.response_mask, cfg.on_nonfinite)
    metrics: Metrics = {"nonfinite/logprobs": num_bad}
    clean: dict[str, torch.Tensor | None] = {}
    for name, value in needed.items():
        if value is None:
            clean[name] = None
            continue
        clean[name], mask, metrics[f"nonfinite/{name}"] = guard_finite(name, value, mask, cfg.on_nonfinite)
    # Without recomputed old log-probs the batch is trained on-policy in a single update: the ratio
    # exp(lp - lp.detach()) is 1, but its gradient is grad(lp), so the loss gives the plain policy gradient.
    old = clean["old_logprobs"] if clean["old_logprobs"] is not None else logprobs.detach()
    return _CleanInputs(
        mask, logprobs, old, clean["ref_logprobs"], clean["rollout_logprobs"], clean["entropy"]
    ), metrics
