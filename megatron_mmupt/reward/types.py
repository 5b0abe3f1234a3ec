"""Typed objects of the reward stage: what a reward mode sees, what it returns, what leaves the stage."""

from __future__ import annotations

import dataclasses

from megatron_mmupt.reward.answer_extraction import Extraction
from megatron_mmupt.reward.majority_vote import GroupStatus, Vote
from megatron_mmupt.rollout.types import RolloutGroup


@dataclasses.dataclass(frozen=True, slots=True)
class GroupJudgement:
    """Everything the stage knows about one group before a reward mode scores it.

    Attributes:
        group: the rollouts of one prompt.
        extractions: ``(G,)`` the final answer of each sample.
        vote: equivalence classes and the elected class.
        correct: ``(G,)`` whether each answer equals the ground truth; ``None`` when the row has no label.
    """

    group: RolloutGroup
    extractions: tuple[Extraction, ...]
    vote: Vote
    correct: tuple[bool, ...] | None

    @property
    def has_label(self) -> bool:
        return self.correct is not None

    def answer_of_class(self, class_id: int | None) -> str | None:
        """The text of the first sampled answer in a class: how a pseudo-label is shown."""
        if class_id is None:
            return None
        first = self.vote.class_ids.index(class_id)
        return self.extractions[first].answer

    @property
    def majority_correct(self) -> bool | None:
        """Whether the elected class is the right answer (maj@G), whatever the group's status."""
        if self.correct is None:
            return None
        majority = self.vote.majority
        return majority is not None and self.correct[self.vote.class_ids.index(majority)]


@dataclasses.dataclass(frozen=True, slots=True)
class ModeScore:
    """A reward mode's verdict on one group.

    Attributes:
        rewards: ``(G,)`` reward of each sample before the optional format term.
        answers: ``(G,)`` the answers the mode judged (the reference mode extracts its own).
        pseudo_label: the answer the mode treated as correct, if any.
        status: scored, or why the group is skipped (then all rewards are 0).
        pseudo_label_correct: whether ``pseudo_label`` equals the ground truth (``None`` without a label).
    """

    rewards: tuple[float, ...]
    answers: tuple[str | None, ...]
    pseudo_label: str | None
    status: GroupStatus
    pseudo_label_correct: bool | None


@dataclasses.dataclass(frozen=True, slots=True)
class RewardOutput:
    """The reward of one rollout, with the evidence behind it.

    Attributes:
        reward: the scalar the algorithm stage turns into an advantage.
        extracted: the answer extracted from the response (``None``: none).
        pseudo_label: the group's pseudo-label (the same for all G samples).
        vote_share: fraction of the G samples whose answer is equivalent to this one.
        format_score: 1 if the response has the requested format, else 0.
        correct: whether ``extracted`` equals the ground truth (``None`` without a label; diagnostics only).
    """

    reward: float
    extracted: str | None
    pseudo_label: str | None
    vote_share: float
    format_score: float
    correct: bool | None


@dataclasses.dataclass(frozen=True, slots=True)
class GroupReward:
    """The rewards of one group.

    Attributes:
        prompt_id: the group's prompt.
        outputs: ``(G,)`` one per rollout, in rollout order.
        judgement: the extraction and vote behind them.
        score: the reward mode's verdict.
    """

    prompt_id: str
    outputs: tuple[RewardOutput, ...]
    judgement: GroupJudgement
    score: ModeScore

    @property
    def status(self) -> GroupStatus:
        return self.score.status

    @property
    def rewards(self) -> tuple[float, ...]:
        return tuple(o.reward for o in self.outputs)
