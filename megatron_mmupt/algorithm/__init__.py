"""The GRPO objective of MM-UPT (pure torch): advantages, policy losses, KL, aggregation, filters, log-probs.

Data flow: rewards + group ids -> :func:`make_train_batch` -> :class:`TrainBatch`; the actor computes
``token_logprobs_and_entropy`` of its logits and calls :func:`policy_objective` per micro-batch with the global
:class:`LossNormalizer`. Estimators, losses, importance weightings, KL estimators and aggregations are registries (``register_*``).
"""

from megatron_mmupt.algorithm.advantage import ADVANTAGE_ESTIMATORS, group_stats, register_advantage
from megatron_mmupt.algorithm.aggregation import AGGREGATIONS, register_aggregation
from megatron_mmupt.algorithm.batch import make_train_batch
from megatron_mmupt.algorithm.config import (
    AdvantageConfig,
    AlgorithmConfig,
    EntropyConfig,
    FilterConfig,
    KLConfig,
    OffPolicyConfig,
    PolicyLossConfig,
)
from megatron_mmupt.algorithm.filters import apply_filters
from megatron_mmupt.algorithm.importance import IMPORTANCE_WEIGHTINGS, ImportanceWeights, register_importance_weighting
from megatron_mmupt.algorithm.kl import KL_ESTIMATORS, register_kl
from megatron_mmupt.algorithm.logprobs import token_logprobs_and_entropy
from megatron_mmupt.algorithm.losses import POLICY_LOSSES, PolicyLossTerms, register_policy_loss
from megatron_mmupt.algorithm.objective import policy_objective
from megatron_mmupt.algorithm.types import LossNormalizer, TrainBatch

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AGGREGATIONS",
    "IMPORTANCE_WEIGHTINGS",
    "KL_ESTIMATORS",
    "POLICY_LOSSES",
    "AdvantageConfig",
    "AlgorithmConfig",
    "EntropyConfig",
    "FilterConfig",
    "ImportanceWeights",
    "KLConfig",
    "LossNormalizer",
    "OffPolicyConfig",
    "PolicyLossConfig",
    "PolicyLossTerms",
    "TrainBatch",
    "apply_filters",
    "group_stats",
    "make_train_batch",
    "policy_objective",
    "register_advantage",
    "register_aggregation",
    "register_importance_weighting",
    "register_kl",
    "register_policy_loss",
    "token_logprobs_and_entropy",
]
