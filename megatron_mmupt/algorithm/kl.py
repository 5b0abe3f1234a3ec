"""Per-token estimators of KL(pi_theta || pi_ref), registered by name, used as a loss term (GRPO style).

GRPO puts the KL penalty in the loss rather than in the reward (Shao et al. 2024, DeepSeekMath, eq. 3-4),
with the k3 estimator. With tokens sampled from pi_theta and ``log r = log pi_ref - log pi_theta``
(Schulman 2020, "Approximating KL Divergence", http://joschu.net/blog/kl-approx.html):

* ``k1 = -log r``                  unbiased, high variance, can be negative;
* ``k2 = (log r)^2 / 2``           biased, low variance, always >= 0 (verl/EasyR1 call it "mse");
* ``k3 = (r - 1) - log r``         unbiased, low variance, always >= 0 (verl/EasyR1 "low_var_kl").

Every estimator takes ``(logprobs, ref_logprobs)``, both ``# (N, T)``, and returns ``# (N, T)``; masking and
aggregation are the caller's (:mod:`.aggregation`). Inputs must be finite at every position (the objective
zeroes padding first).
"""

from __future__ import annotations

from typing import Protocol

import torch

from megatron_mmupt.utils.registry import Registry

K3_LOG_RATIO_CLAMP = 20.0
"""``log r`` is clamped to [-20, 20] before ``exp`` in k3, as the MM-UPT/EasyR1 reference does."""
K3_VALUE_CLAMP = 10.0
"""k3 is clamped to [-10, 10] per token, as the reference does: one badly off token cannot dominate the loss."""


class KLEstimator(Protocol):
    def __call__(self, logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
        """logprobs, ref_logprobs ``# (N, T)`` -> per-token KL estimate ``# (N, T)``."""
        ...


KL_ESTIMATORS: Registry[KLEstimator] = Registry("KL estimator", signature=KLEstimator.__call__)
register_kl = KL_ESTIMATORS.register


@register_kl("k1")
def k1_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """``k1 = log pi_theta - log pi_ref`` (Schulman 2020). Shapes: ``# (N, T)`` -> ``# (N, T)``."""
    return logprobs - ref_logprobs


@register_kl("k2")
def k2_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """``k2 = (log pi_theta - log pi_ref)^2 / 2`` (Schulman 2020; "mse" in verl). ``# (N, T)`` -> ``# (N, T)``."""
    return 0.5 * (logprobs - ref_logprobs).square()


@register_kl("k3")
def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """``k3 = exp(log r) - log r - 1`` with ``log r = log pi_ref - log pi_theta`` (Schulman 2020), the
    low-variance estimator of GRPO (Shao et al. 2024, eq. 4) and of the MM-UPT reference ("low_var_kl").

    ``log r`` is clamped to [-20, 20] and the result to [-10, 10], as the reference does.
    Shapes: ``# (N, T)`` -> ``# (N, T)``.
    """
    log_r = (ref_logprobs - logprobs).clamp(-K3_LOG_RATIO_CLAMP, K3_LOG_RATIO_CLAMP)
    return (log_r.exp() - log_r - 1.0).clamp(-K3_VALUE_CLAMP, K3_VALUE_CLAMP)
