"""What a label-free step shows of consensus collapse, read from its rollouts and votes alone (no label).

The vote reward pays for agreement, and a constant answer is full agreement: a policy can reach it by answering
every question alike (a tiny model trained with the vote reward at a high learning rate and no KL term did so
within 120 steps: the vote reward rose from 0.59 to 1.0 while its accuracy fell to nothing). On the way
the groups' answers narrow: the majority share rises, the answer entropy and the number of distinct answers fall,
more groups become unanimous, and the policy's token entropy falls; and the policy drifts from the reference
faster than a run that holds (on the demo, the KL to the reference grew about four times faster at lr 2e-4,
whose held-out accuracy fell after step 20, than at lr 1e-4, whose did not: ``docs/algorithm.md``). :class:`CollapseSignals` holds one step's
values; :class:`~megatron_mmupt.trainer.collapse_guard.CollapseGuard` follows them over the steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from megatron_mmupt.algorithm.kl import k3_kl
from megatron_mmupt.algorithm.metrics import masked_mean
from megatron_mmupt.algorithm.types import TrainBatch
from megatron_mmupt.reward.diagnostics import RewardBatch
from megatron_mmupt.rollout.types import RolloutGroup


@dataclasses.dataclass(frozen=True, slots=True)
class CollapseSignals:
    """One step's collapse signals, each a mean over the batch's groups (the vote's metrics of the same name).

    Attributes:
        majority_share: majority share of the G samples (``vote/majority_ratio``).
        answer_entropy: entropy of each group's answers in nats (``vote/answer_entropy``; 0 = one answer).
        distinct_answers: distinct answers per group (``vote/distinct_answers``).
        unanimous_rate: share of groups whose G samples all give one answer (``vote/unanimous_rate``).
        token_entropy: the sampling policy's entropy per response token, estimated by the mean ``-log p`` of the
            sampled tokens (an unbiased one-sample estimate at the rollout temperature, top-p and suppressed
            special tokens aside); ``None`` when the engine reported no log-probs.
        reference_kl: how far the policy has drifted from the reference, the mean k3 KL of the sampled response
            tokens (``algorithm.kl``'s estimator, before this step's update: the loss's own KL term); ``None``
            without reference log-probs (``algorithm.kl.coef=0``) or recomputed ones.
    """

    majority_share: float
    answer_entropy: float
    distinct_answers: float
    unanimous_rate: float
    token_entropy: float | None
    reference_kl: float | None = None

    @classmethod
    def measure(
        cls, rewards: RewardBatch, groups: Sequence[RolloutGroup], batch: TrainBatch | None = None
    ) -> CollapseSignals:
        votes = [g.judgement.vote for g in rewards]
        logprobs = [lp for g in groups for r in g.rollouts for lp in r.rollout_logprobs]
        return cls(
            majority_share=_mean([v.majority_share for v in votes]),
            answer_entropy=_mean([v.answer_entropy for v in votes]),
            distinct_answers=_mean([float(v.num_distinct) for v in votes]),
            unanimous_rate=_mean([float(v.is_unanimous) for v in votes]),
            token_entropy=-sum(logprobs) / len(logprobs) if logprobs else None,
            reference_kl=_reference_kl(batch),
        )

    @classmethod
    def from_metrics(cls, record: dict[str, float]) -> CollapseSignals:
        """The signals of one logged step (a ``metrics.jsonl`` record: the vote's metrics, the sampled tokens' entropy
        and the reference KL are logged under these names), to replay a finished run through a guard
        (``collapse_guard.replay``). Runs logged before ``kl/reference`` existed give the update's ``kl/mean``: the
        same estimator, averaged over the step's updates (slightly later than the guard reads it)."""
        return cls(
            majority_share=float(record["vote/majority_ratio"]),
            answer_entropy=float(record["vote/answer_entropy"]),
            distinct_answers=float(record["vote/distinct_answers"]),
            unanimous_rate=float(record["vote/unanimous_rate"]),
            token_entropy=record.get("entropy/sampled_tokens"),
            reference_kl=record.get("kl/reference", record.get("kl/mean")),
        )

    def to_metrics(self) -> dict[str, float]:
        """The inverse of :meth:`from_metrics` (``token_entropy`` only when known)."""
        record = {
            "vote/majority_ratio": self.majority_share, "vote/answer_entropy": self.answer_entropy,
            "vote/distinct_answers": self.distinct_answers, "vote/unanimous_rate": self.unanimous_rate,
        }  # fmt: skip
        record |= {} if self.token_entropy is None else {"entropy/sampled_tokens": self.token_entropy}
        return record | ({} if self.reference_kl is None else {"kl/reference": self.reference_kl})


def _reference_kl(batch: TrainBatch | None) -> float | None:
    if batch is None or batch.old_logprobs is None or batch.ref_logprobs is None or not batch.response_mask.any():
        return None
    kl = k3_kl(batch.old_logprobs, batch.ref_logprobs)  # (N, T)
    return float(masked_mean(kl, batch.response_mask))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
