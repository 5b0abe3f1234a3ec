"""Typed configuration of the GRPO objective. Defaults are the MM-UPT reference recipe (EasyR1 fork):
GRPO advantages (unbiased std, eps 1e-6), PPO clip 0.2/0.3 with dual-clip 3.0, k3 KL loss with coefficient
0.01, token-mean aggregation, no entropy bonus, no filtering, no importance weighting. GSPO has no dual clip unless
``policy_loss.seq_clip_dual`` is set (the GSPO paper and verl have none).

Overrides address the nested sections, e.g. ``algorithm.policy_loss.clip_high=0.28``,
``algorithm.advantage.estimator=rloo``, ``algorithm.kl.coef=0``. Registry names are validated here, at config
time, so a typo fails before any model is built, listing the valid names.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal, get_args

from megatron_mmupt.algorithm.advantage import ADVANTAGE_ESTIMATORS
from megatron_mmupt.algorithm.aggregation import AGGREGATIONS
from megatron_mmupt.algorithm.importance import IMPORTANCE_WEIGHTINGS
from megatron_mmupt.algorithm.kl import KL_ESTIMATORS
from megatron_mmupt.algorithm.losses import POLICY_LOSSES, SEQUENCE_RATIO_LOSSES
from megatron_mmupt.algorithm.numerics import NonFinitePolicy
from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice, check_range


@dataclasses.dataclass(kw_only=True, slots=True)
class AdvantageConfig(ConfigNode):
    """How rewards become per-sample advantages (:mod:`megatron_mmupt.algorithm.advantage`)."""

    estimator: str = "grpo"
    """Registered advantage estimator: ``grpo`` (normalized by the group std), ``dr_grpo`` (no std division),
    ``rloo`` (leave-one-out baseline)."""

    eps: float = 1e-6
    """Added to the group std in ``grpo`` (reference: 1e-6); unused by the other estimators."""

    def __post_init__(self) -> None:
        check_choice("estimator", self.estimator, ADVANTAGE_ESTIMATORS.names())
        check_range("eps", self.eps, 0.0)


@dataclasses.dataclass(kw_only=True, slots=True)
class PolicyLossConfig(ConfigNode):
    """The policy-gradient surrogate (:mod:`megatron_mmupt.algorithm.losses`)."""

    name: str = "ppo_clip"
    """Registered policy loss: ``ppo_clip`` (token-level ratio) or ``gspo`` (sequence-level ratio)."""

    clip_low: float = 0.2
    """Lower clip range: ratios below ``1 - clip_low`` stop the gradient of negative advantages (reference 0.2)."""

    clip_high: float = 0.3
    """Upper clip range: ratios above ``1 + clip_high`` stop the gradient of positive advantages; larger than
    ``clip_low`` is DAPO's clip-higher (reference 0.3). GSPO's paper uses 3e-4 / 4e-4."""

    clip_dual: float | None = 3.0
    """Dual-clip constant ``c > 1`` of the token-level loss ``ppo_clip``: the loss of a negative advantage is
    bounded by ``-c A`` (Ye et al. 2020; reference 3.0); ``None`` disables it. ``gspo`` does not read it (see
    ``seq_clip_dual``), so a recipe's PPO dual clip does not follow an override to ``name=gspo``."""

    seq_clip_dual: float | None = None
    """Dual-clip constant ``c > 1`` of the sequence-level loss ``gspo``, applied to the sequence ratio. ``None``
    (default): no dual clip, as in the GSPO paper (Zheng et al. 2025) and verl; a value opts in (an extension)."""

    def __post_init__(self) -> None:
        check_choice("name", self.name, POLICY_LOSSES.names())
        check_range("clip_low", self.clip_low, 0.0, 1.0)
        if self.clip_low >= 1.0:
            raise ConfigError(f"clip_low={self.clip_low!r} must be < 1 (the lower bound is 1 - clip_low > 0)")
        check_range("clip_high", self.clip_high, 0.0)
        for key in ("clip_dual", "seq_clip_dual"):
            value = getattr(self, key)
            if value is not None and not value > 1.0:
                raise ConfigError(f"{key}={value!r} must be > 1 (or None to disable dual-clip)")
        if self.seq_clip_dual is not None and self.name not in SEQUENCE_RATIO_LOSSES:
            warnings.warn(
                f"seq_clip_dual={self.seq_clip_dual} has no effect with name={self.name!r}; it applies to "
                f"{', '.join(sorted(SEQUENCE_RATIO_LOSSES))} (token-level losses read clip_dual)",
                stacklevel=2,
            )


@dataclasses.dataclass(kw_only=True, slots=True)
class OffPolicyConfig(ConfigNode):
    """Importance weights from the behaviour policy (the rollout engine's log-probs) to the proximal policy (the
    trainer's recomputed old log-probs), multiplied into each token's policy loss
    (:mod:`megatron_mmupt.algorithm.importance`). With ``policy_loss.name=ppo_clip`` and ``weighting=decoupled``
    this is AReaL's decoupled PPO loss (Fu et al. 2025)."""

    weighting: str | None = None
    """Registered importance weighting: ``tis`` (token-level truncation ``min(rho_t, cap)``, Yao et al. 2025),
    ``decoupled`` (token-level ``rho_t``, vetoed to 0 above ``cap``, AReaL), ``seq_mis`` (sequence-level
    ``rho_i = prod_t rho_t``, vetoed to 0 above ``cap``, Liu et al. 2025). ``None`` (reference): no correction.
    Any weighting needs the rollout log-probs in the batch, and corrects nothing unless the old log-probs are
    recomputed (``trainer.old_logprobs=recompute``)."""

    cap: float = 2.0
    """``C >= 1``: the truncation cap of ``tis`` and the veto threshold of ``decoupled`` and ``seq_mis`` (2 in
    the TIS and MIS write-ups; AReaL's examples use 5 for stale data)."""

    def __post_init__(self) -> None:
        if self.weighting is not None:
            check_choice("weighting", self.weighting, IMPORTANCE_WEIGHTINGS.names())
        check_range("cap", self.cap, 1.0)


@dataclasses.dataclass(kw_only=True, slots=True)
class KLConfig(ConfigNode):
    """KL penalty to the reference policy, added to the loss (:mod:`megatron_mmupt.algorithm.kl`)."""

    estimator: str = "k3"
    """Registered per-token KL estimator: ``k1``, ``k2`` (mse) or ``k3`` (low-variance; reference)."""

    coef: float = 0.01
    """Weight of the KL term in the loss (reference 0.01). 0 disables it: no reference log-probs are needed."""

    def __post_init__(self) -> None:
        check_choice("estimator", self.estimator, KL_ESTIMATORS.names())
        check_range("coef", self.coef, 0.0)


@dataclasses.dataclass(kw_only=True, slots=True)
class EntropyConfig(ConfigNode):
    """Entropy of the policy: always reported when the actor passes it; optionally a bonus in the loss."""

    coef: float = 0.0
    """Weight of the entropy bonus: the loss gets ``- coef * aggregate(entropy)``. 0 (reference) = metric only."""

    def __post_init__(self) -> None:
        check_range("coef", self.coef, 0.0)


ZeroAdvantageGroups = Literal["keep", "drop"]
Overlong = Literal["keep", "mask"]


@dataclasses.dataclass(kw_only=True, slots=True)
class FilterConfig(ConfigNode):
    """Which samples enter the loss (:mod:`megatron_mmupt.algorithm.filters`); counts are reported as metrics."""

    zero_advantage_groups: ZeroAdvantageGroups = "keep"
    """Groups whose rewards are all equal have zero advantage: ``drop`` removes their rows from the batch
    (saves the compute; DAPO's dynamic sampling filter), ``keep`` trains on them (only KL/entropy act; reference)."""

    overlong: Overlong = "keep"
    """Truncated responses (no end-of-sequence within the length limit): ``mask`` excludes their tokens from the
    loss (DAPO's overlong filtering), ``keep`` trains on them (reference)."""

    def __post_init__(self) -> None:
        check_choice("zero_advantage_groups", self.zero_advantage_groups, get_args(ZeroAdvantageGroups))
        check_choice("overlong", self.overlong, get_args(Overlong))


@dataclasses.dataclass(kw_only=True, slots=True)
class AlgorithmConfig(ConfigNode):
    """The GRPO objective of MM-UPT: advantages, policy loss, off-policy weights, KL, entropy, aggregation,
    filters, numerics."""

    advantage: AdvantageConfig = dataclasses.field(default_factory=AdvantageConfig)
    """Advantage estimator and its parameters."""

    policy_loss: PolicyLossConfig = dataclasses.field(default_factory=PolicyLossConfig)
    """Policy loss and its clip ranges."""

    off_policy: OffPolicyConfig = dataclasses.field(default_factory=OffPolicyConfig)
    """Importance weighting of off-policy (behaviour -> proximal) tokens: TIS, decoupled PPO, Seq-MIS."""

    kl: KLConfig = dataclasses.field(default_factory=KLConfig)
    """KL-to-reference loss term."""

    entropy: EntropyConfig = dataclasses.field(default_factory=EntropyConfig)
    """Entropy bonus."""

    loss_aggregation: str = "token-mean"
    """Registered aggregation of per-token losses: ``token-mean`` (reference), ``seq-mean-token-sum``,
    ``seq-mean-token-mean``. Applied alike to the policy, KL and entropy terms."""

    filters: FilterConfig = dataclasses.field(default_factory=FilterConfig)
    """Zero-advantage group and overlong response filters."""

    on_nonfinite: NonFinitePolicy = "raise"
    """NaN/inf in rewards or log-probs: ``raise`` a FloatingPointError, or ``drop`` the affected samples/tokens
    from the loss and count them in the ``nonfinite/*`` metrics."""

    def __post_init__(self) -> None:
        check_choice("loss_aggregation", self.loss_aggregation, AGGREGATIONS.names())
        check_choice("on_nonfinite", self.on_nonfinite, get_args(NonFinitePolicy))
