"""Policy-gradient surrogate losses, registered by name.

Every policy loss takes ``(logprobs, old_logprobs, advantages, response_mask, cfg)`` and returns
:class:`PolicyLossTerms`: a per-token loss ``# (N, T)`` (to be aggregated by
:mod:`megatron_mmupt.algorithm.aggregation`) plus the detached ratio and clip indicators the metrics need.
Per-token losses (not scalars) are returned so that aggregation, TIS and the global micro-batch normalizer are
applied once, identically, for every loss (importance weights: :mod:`.importance`).

Inputs must be finite at every position (padding included): the objective zeroes positions outside the mask
before calling, because ``exp`` of padding garbage would otherwise put ``0 * inf`` into the backward pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol

import torch

from megatron_mmupt.utils.registry import Registry

if TYPE_CHECKING:
    from megatron_mmupt.algorithm.config import PolicyLossConfig

LOG_RATIO_CLAMP = 20.0
"""|log ratio| is clamped before ``exp`` (as EasyR1/verl do) so a stale token cannot overflow to inf."""


class PolicyLossTerms(NamedTuple):
    """Output of a policy loss; all ``# (N, T)``.

    loss          per-token loss (differentiable), to be masked and aggregated
    ratio         detached importance ratio used by the loss (sequence-level ratios are broadcast over tokens)
    clipped_low   bool, A < 0 and ratio < 1 - clip_low: the lower clip removed the gradient
    clipped_high  bool, A > 0 and ratio > 1 + clip_high: the upper clip removed the gradient
    clipped_dual  bool, A < 0 and ratio > clip_dual: the dual clip bounded the loss
    """

    loss: torch.Tensor
    ratio: torch.Tensor
    clipped_low: torch.Tensor
    clipped_high: torch.Tensor
    clipped_dual: torch.Tensor


class PolicyLoss(Protocol):
    def __call__(
        self,
        logprobs: torch.Tensor,
        old_logprobs: torch.Tensor,
        advantages: torch.Tensor,
        response_mask: torch.Tensor,
        cfg: PolicyLossConfig,
    ) -> PolicyLossTerms:
        """logprobs, old_logprobs ``# (N, T)``, advantages ``# (N,)``, response_mask ``# (N, T)`` bool."""
        ...


POLICY_LOSSES: Registry[PolicyLoss] = Registry("policy loss", signature=PolicyLoss.__call__)
register_policy_loss = POLICY_LOSSES.register
SEQUENCE_RATIO_LOSSES: frozenset[str] = frozenset({"gspo"})
"""Losses whose ratio is per sequence: they read ``cfg.seq_clip_dual``; the others read ``cfg.clip_dual``."""


def clipped_surrogate(
    ratio: torch.Tensor, advantages: torch.Tensor, cfg: PolicyLossConfig, clip_dual: float | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pessimistic clipped surrogate ``max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high))``, dual-clipped.

    PPO clip (Schulman et al. 2017, eq. 7) with decoupled bounds ("clip-higher", DAPO, Yu et al. 2025, §3.1):
    raising ``eps_high`` lets low-probability tokens grow, against entropy collapse. Dual-clip (Ye et al. 2020,
    "Mastering Complex Control in MOBA Games with Deep RL", eq. 5) bounds the loss of negative advantages by
    ``-c A`` (``c = clip_dual``; ``None`` disables it) so that one very large ratio cannot dominate the update;
    it never applies to ``A >= 0``. Each loss passes its own constant: ``cfg.clip_dual`` (token-level ``ppo_clip``)
    or ``cfg.seq_clip_dual`` (sequence-level ``gspo``, off by default).

    Shapes: ``ratio`` and ``advantages`` broadcast together (``(N, T)`` with ``(N, 1)``, or ``(N,)`` with
    ``(N,)``). Returns ``(loss, clipped_low, clipped_high, clipped_dual)`` of the broadcast shape.
    """
    low, high = 1.0 - cfg.clip_low, 1.0 + cfg.clip_high
    loss = torch.maximum(-advantages * ratio, -advantages * ratio.clamp(low, high))
    negative = advantages < 0
    r = ratio.detach()
    clipped_low = negative & (r < low)
    clipped_high = (advantages > 0) & (r > high)
    if clip_dual is None:
        clipped_dual = torch.zeros_like(clipped_low)
    else:
        bound = -advantages * clip_dual
        clipped_dual = negative & (loss.detach() > bound)
        loss = torch.where(clipped_dual, bound.expand_as(loss), loss)
    return loss, clipped_low, clipped_high, clipped_dual


@register_policy_loss("ppo_clip")
def ppo_clip_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    cfg: PolicyLossConfig,
) -> PolicyLossTerms:
    """Token-level PPO clip objective with clip-higher and dual-clip, as GRPO uses it.

    ``r_t = exp(logp_t - old_logp_t)``; per-token loss ``max(-A r_t, -A clip(r_t, 1-eps_low, 1+eps_high))``,
    bounded by ``-c A`` for ``A < 0`` (see :func:`clipped_surrogate`). Papers: PPO (Schulman et al. 2017),
    GRPO (Shao et al. 2024, eq. 3, without its in-loss KL which lives in :mod:`.kl`), DAPO clip-higher
    (Yu et al. 2025), dual-clip (Ye et al. 2020). Reference values: eps_low 0.2, eps_high 0.3, c = 3.0.

    Shapes: logprobs, old_logprobs ``# (N, T)``; advantages ``# (N,)``; response_mask ``# (N, T)`` (unused:
    every token is independent) -> :class:`PolicyLossTerms` of ``# (N, T)``.
    """
    log_ratio = (logprobs - old_logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)  # (N, T)
    ratio = log_ratio.exp()
    loss, low, high, dual = clipped_surrogate(ratio, advantages.unsqueeze(-1), cfg, cfg.clip_dual)
    return PolicyLossTerms(loss, ratio.detach(), low, high, dual)


@register_policy_loss("gspo")
def gspo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    cfg: PolicyLossConfig,
) -> PolicyLossTerms:
    """GSPO: the clipped surrogate on the sequence-level, length-normalized ratio (Zheng et al. 2025,
    "Group Sequence Policy Optimization", eq. 5-7), in its per-token form GSPO-token (§4.3).

    ``s_i = exp(mean_t (logp_it - old_logp_it))`` over the response tokens of sample i. Token t's term uses
    ``s_it = sg[s_i] * pi(y_t) / sg[pi(y_t)]``: its value is ``s_i``, its gradient flows through token t's own
    log-prob only. Per token ``l_it = max(-A_i s_it, -A_i clip(s_it, 1-eps_low, 1+eps_high))``, dual-clipped for
    ``A_i < 0`` only when ``cfg.seq_clip_dual`` is set (an opt-in extension: neither the paper nor verl's GSPO has
    a dual clip; ``cfg.clip_dual``, the token-level constant, does not apply here). Without token
    weights this equals the sequence loss broadcast over the tokens, values and gradients alike, for every
    aggregation; with TIS weights ``w_t`` each token's own term is weighted (``w_t l_it``, as verl's
    ``compute_policy_loss_gspo`` and Yao et al. 2025 do), where a broadcast sequence loss would give every token
    its sequence's *mean* weight. ``seq-mean-token-mean`` aggregation gives the paper's ``1/G sum_i``. The
    paper's clip ranges are much smaller than PPO's (3e-4 / 4e-4), because ``s_i`` is a geometric mean.

    Shapes: logprobs, old_logprobs ``# (N, T)``; advantages ``# (N,)``; response_mask ``# (N, T)`` bool
    -> :class:`PolicyLossTerms` of ``# (N, T)``. A fully masked sample has ``s_i = 1``.
    """
    token_log_ratio = torch.where(response_mask, logprobs - old_logprobs, 0.0)  # (N, T)
    num_tokens = response_mask.sum(dim=-1).clamp(min=1)  # (N,)
    seq_log_ratio = (token_log_ratio.sum(dim=-1) / num_tokens).detach()  # (N,)
    # log s_it = sg[log s_i] + logp_t - sg[logp_t]: the value of log s_i, the gradient of logp_t alone.
    log_ratio = seq_log_ratio.unsqueeze(-1) + (logprobs - logprobs.detach())  # (N, T)
    ratio = log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp()
    loss, low, high, dual = clipped_surrogate(ratio, advantages.unsqueeze(-1), cfg, cfg.seq_clip_dual)  # (N, T)
    return PolicyLossTerms(loss, ratio.detach(), low, high, dual)
