"""What a reward batch tells about the vote, and, when rows happen to carry labels, about its quality.

Labels never enter the reward (except in mode ``supervised``); they only measure it:

* ``label/label_accuracy``: share of labeled groups whose pseudo-label is the right answer;
* ``label/reward_accuracy``: share of samples of scored, labeled groups whose reward agrees with their
  correctness (rewarded, i.e. reward >= 0.5, exactly when correct);
* ``label/pass_at_1``: share of samples whose answer is right (the policy's accuracy);
* ``label/maj_at_k``: share of labeled groups whose majority answer is right (ties: first seen).

The vote itself: ``vote/majority_ratio`` (majority share of the G samples, averaged over groups),
``vote/answer_rate`` (samples with an answer), ``vote/distinct_answers`` (classes per group),
``vote/answer_entropy`` (entropy of each group's answers in nats, averaged; :attr:`Vote.answer_entropy`),
``vote/unanimous_rate`` (share of groups where all G samples give one answer) and the skipped groups by
reason. A collapsing policy shows ``majority_ratio`` -> 1, ``distinct_answers`` -> 1, ``answer_entropy`` -> 0
and ``unanimous_rate`` -> 1 (``trainer/collapse_guard.py`` watches them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from megatron_mmupt.reward.majority_vote import GroupStatus
from megatron_mmupt.reward.types import GroupReward


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


@dataclasses.dataclass(frozen=True, slots=True)
class RewardBatch:
    """The reward stage's output for one batch.

    Attributes:
        groups: one ``GroupReward`` per input group, in input order.
        symbolic_stats: what this batch cost the symbolic judge (calls, cache hits, timeouts).
    """

    groups: tuple[GroupReward, ...]
    symbolic_stats: dict[str, int] = dataclasses.field(default_factory=dict)

    def __iter__(self) -> Iterator[GroupReward]:
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def rewards(self) -> list[float]:
        """``(N,)`` rewards of all rollouts, group after group."""
        return [o.reward for g in self.groups for o in g.outputs]

    def metrics(self) -> dict[str, float]:
        """Batch diagnostics (see the module docstring), keyed ``section/name``."""
        votes = [g.judgement.vote for g in self.groups]
        statuses = [g.status for g in self.groups]
        num_samples = sum(v.num_samples for v in votes)
        metrics = {
            "reward/mean": _mean(self.rewards),
            "vote/groups": float(len(self.groups)),
            "vote/majority_ratio": _mean([v.majority_share for v in votes]),
            "vote/answer_rate": sum(v.num_valid for v in votes) / num_samples if num_samples else float("nan"),
            "vote/distinct_answers": _mean([float(v.num_distinct) for v in votes]),
            "vote/answer_entropy": _mean([v.answer_entropy for v in votes]),
            "vote/unanimous_rate": _mean([float(v.is_unanimous) for v in votes]),
            "vote/skipped_groups": float(sum(s.is_skipped for s in statuses)),
        }
        for status in GroupStatus:
            if status.is_skipped:
                metrics[f"vote/skipped_{status.value}"] = float(statuses.count(status))
        metrics.update(self._label_metrics())
        metrics["symbolic/timeouts"] = float(sum(v for k, v in self.symbolic_stats.items() if k.endswith("timed_out")))
        return metrics

    def _label_metrics(self) -> dict[str, float]:
        labeled = [g for g in self.groups if g.judgement.correct is not None]
        if not labeled:
            return {}
        samples = [(o.reward, o.correct) for g in labeled for o in g.outputs]
        scored = [(o.reward, o.correct) for g in labeled if not g.status.is_skipped for o in g.outputs]
        return {
            "label/groups": float(len(labeled)),
            "label/label_accuracy": _mean([float(bool(g.score.pseudo_label_correct)) for g in labeled]),
            "label/reward_accuracy": _mean([float((r >= 0.5) == c) for r, c in scored]),
            "label/pass_at_1": _mean([float(c) for _, c in samples]),
            "label/maj_at_k": _mean([float(bool(g.judgement.majority_correct)) for g in labeled]),
        }
