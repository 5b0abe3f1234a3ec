"""Importance weights for off-policy data: behaviour policy (sampled) -> proximal policy (trained), by name.

Three policies meet in an off-policy update (Fu et al. 2025, "AReaL: A Large-Scale Asynchronous Reinforcement
Learning System for Language Reasoning", §5, the decoupled PPO objective):

* behaviour ``pi_behav``: the policy that sampled the tokens; ``TrainBatch.rollout_logprobs``, as the rollout
  engine reported them (its kernels, its precision, and, in an asynchronous run, weights some versions old);
* proximal ``pi_prox``: the policy the PPO clip is centred on; ``TrainBatch.old_logprobs``, recomputed by the
  trainer with the current weights before the first update (``trainer.old_logprobs=recompute``);
* ``pi_theta``: the policy being optimized.

The decoupled objective is ``E_{pi_behav}[ w_t * l_t(pi_theta / pi_prox) ]`` with ``l_t`` the registered policy
loss (clipped around pi_prox) and ``w_t`` an importance weight of ``rho_t = pi_prox(y_t) / pi_behav(y_t)``,
detached. The entries below differ only in how ``rho`` becomes ``w``; each takes
``(proximal_logprobs, behaviour_logprobs, response_mask, cfg)``, all ``# (N, T)``, and returns
:class:`ImportanceWeights`. With ``trainer.old_logprobs=rollout`` the two log-probs are the same tensor, every
``rho_t`` is 1, and every weighting is a no-op: recompute the proximal log-probs to correct anything.

NOTE: a vetoed token (weight 0) still counts in the global :class:`~megatron_mmupt.algorithm.types.LossNormalizer`,
as in AReaL (its denominator is the loss mask): many vetoes make the step smaller rather than re-weighting the
remaining tokens. The KL and entropy terms still act on vetoed tokens.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple, Protocol

import torch

from megatron_mmupt.utils.registry import Registry

if TYPE_CHECKING:
    from megatron_mmupt.algorithm.config import OffPolicyConfig


class ImportanceWeights(NamedTuple):
    """Output of an importance weighting; all ``# (N, T)``, detached.

    weights    ``w_t >= 0``, multiplied into each token's policy loss
    truncated  bool, the weight was lowered to the cap
    vetoed     bool, the weight was set to 0 (its ratio was beyond the cap)
    """

    weights: torch.Tensor
    truncated: torch.Tensor
    vetoed: torch.Tensor


class ImportanceWeighting(Protocol):
    def __call__(
        self,
        proximal_logprobs: torch.Tensor,
        behaviour_logprobs: torch.Tensor,
        response_mask: torch.Tensor,
        cfg: OffPolicyConfig,
    ) -> ImportanceWeights:
        """proximal_logprobs, behaviour_logprobs ``# (N, T)``, response_mask ``# (N, T)`` bool."""
        ...


IMPORTANCE_WEIGHTINGS: Registry[ImportanceWeighting] = Registry(
    "importance weighting", signature=ImportanceWeighting.__call__
)
register_importance_weighting = IMPORTANCE_WEIGHTINGS.register


def token_log_rho(proximal_logprobs: torch.Tensor, behaviour_logprobs: torch.Tensor) -> torch.Tensor:
    """``log rho_t = log pi_prox(y_t) - log pi_behav(y_t)``, detached. ``# (N, T)`` -> ``# (N, T)``."""
    return (proximal_logprobs - behaviour_logprobs).detach()


@register_importance_weighting("tis")
def truncated_token_weights(
    proximal_logprobs: torch.Tensor,
    behaviour_logprobs: torch.Tensor,
    response_mask: torch.Tensor,
    cfg: OffPolicyConfig,
) -> ImportanceWeights:
    """Token-level truncated importance sampling ``w_t = min(rho_t, C)`` (Yao et al. 2025, "Your Efficient RL
    Framework Secretly Brings You Off-Policy RL Training", the TIS estimator, C = 2; verl's token-level rollout
    correction). Biased but bounded: a token the engine under-sampled counts at most C times.

    Shapes: ``# (N, T)`` -> :class:`ImportanceWeights` of ``# (N, T)``; ``response_mask`` is unused (per token).
    """
    log_rho = token_log_rho(proximal_logprobs, behaviour_logprobs)  # (N, T)
    log_cap = math.log(cfg.cap)
    return ImportanceWeights(log_rho.clamp(max=log_cap).exp(), log_rho > log_cap, torch.zeros_like(response_mask))


@register_importance_weighting("decoupled")
def decoupled_token_weights(
    proximal_logprobs: torch.Tensor,
    behaviour_logprobs: torch.Tensor,
    response_mask: torch.Tensor,
    cfg: OffPolicyConfig,
) -> ImportanceWeights:
    """The behaviour weight of AReaL's decoupled PPO loss (Fu et al. 2025, eq. 5): ``w_t = rho_t``, and 0 where
    ``rho_t > C`` (AReaL's ``behav_imp_weight_cap``: such tokens are filtered out of the loss). Unbiased where it
    keeps a token, unlike truncation; the veto bounds the variance.

    Shapes: ``# (N, T)`` -> :class:`ImportanceWeights` of ``# (N, T)``; ``response_mask`` is unused (per token).
    """
    log_rho = token_log_rho(proximal_logprobs, behaviour_logprobs)  # (N, T)
    vetoed = log_rho > math.log(cfg.cap)
    weights = torch.where(vetoed, 0.0, log_rho.clamp(max=math.log(cfg.cap)).exp())
    return ImportanceWeights(weights, torch.zeros_like(vetoed), vetoed)


@register_importance_weighting("seq_mis")
def sequence_veto_weights(
    proximal_logprobs: torch.Tensor,
    behaviour_logprobs: torch.Tensor,
    response_mask: torch.Tensor,
    cfg: OffPolicyConfig,
) -> ImportanceWeights:
    """Sequence-level masked importance sampling (Seq-MIS): ``rho_i = prod_t rho_it`` over the response tokens,
    ``w_i = rho_i * 1[rho_i <= C]``, the same for every token of sequence i (Liu et al. 2025, "When Speed Kills
    Stability: Demystifying RL Collapse from the Training-Inference Mismatch"; verl's sequence-level rollout
    correction with rejection; IcePop, Ling team 2025, vetoes per token instead). The sequence ratio is the
    correct weight of a sequence-level reward; the veto drops the sequences it would blow up.

    Computed in log space, ``exp`` only below ``log C``, so a long sequence cannot overflow.
    Shapes: ``# (N, T)`` -> :class:`ImportanceWeights` of ``# (N, T)``; a fully masked sequence has ``rho = 1``.
    """
    log_rho = torch.where(response_mask, token_log_rho(proximal_logprobs, behaviour_logprobs), 0.0)  # (N, T)
    log_seq_rho = log_rho.sum(dim=-1, keepdim=True)  # (N, 1)
    vetoed = (log_seq_rho > math.log(cfg.cap)).expand_as(log_rho)  # (N, T)
    weights = torch.where(vetoed, 0.0, log_seq_rho.clamp(max=math.log(cfg.cap)).exp().expand_as(log_rho))
    return ImportanceWeights(weights, torch.zeros_like(vetoed), vetoed)
