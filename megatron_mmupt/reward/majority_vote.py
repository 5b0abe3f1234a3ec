"""The vote: which equivalence class of a group's answers is the pseudo-label.

Only answers vote. A sample with no extractable (or an empty) answer does not vote and can never be
in the majority: the MM-UPT reference votes over raw strings including the literal "None", so when
most samples fail to answer it rewards failing to answer; here that group has no pseudo-label.

Tie-break (``tie_break="first_seen"``, the default): among the classes with the most votes, the one
whose first member was sampled first wins. Sampling order is random, so this is an unbiased pick,
and it is deterministic given the rollouts (the reference's ``Counter.most_common`` does the same over
raw strings). ``tie_break="skip"`` leaves tied groups without a pseudo-label instead.

Shares are over all G samples, unanswered ones included: 3 votes of 10 is a share of 0.3 whether or
not the other 7 answered, so a group that mostly failed to answer cannot reach ``min_vote_share``.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
from collections.abc import Sequence
from typing import Literal

from megatron_mmupt.config.configurable import Configurable, check_choice, check_range


class GroupStatus(enum.StrEnum):
    """The outcome of a group's vote."""

    SCORED = "scored"
    """A pseudo-label was elected."""
    NO_ANSWER = "no_answer"
    """No sample produced an answer."""
    TIE = "tie"
    """Several classes share the most votes and ``tie_break="skip"``."""
    LOW_SHARE = "low_share"
    """The majority share is below ``min_vote_share``: too little agreement to trust."""

    @property
    def is_skipped(self) -> bool:
        """Skipped groups get zero rewards (and so zero advantages): they teach nothing."""
        return self is not GroupStatus.SCORED


@dataclasses.dataclass(frozen=True, slots=True)
class Vote:
    """The vote of one group.

    Attributes:
        class_ids: ``(G,)`` equivalence-class id of each sample's answer, ``None`` when it has none.
        class_sizes: votes per class, indexed by class id.
        majority: the elected class id, also set for skipped ``TIE``/``LOW_SHARE`` groups (for
            diagnostics such as maj@G); ``None`` only when nobody answered.
        status: whether the group is scored or why it is skipped.
    """

    class_ids: tuple[int | None, ...]
    class_sizes: tuple[int, ...]
    majority: int | None
    status: GroupStatus

    @property
    def num_samples(self) -> int:
        return len(self.class_ids)

    @property
    def num_valid(self) -> int:
        return sum(self.class_sizes)

    @property
    def num_distinct(self) -> int:
        return len(self.class_sizes)

    @property
    def majority_count(self) -> int:
        return 0 if self.majority is None else self.class_sizes[self.majority]

    @property
    def majority_share(self) -> float:
        return self.majority_count / self.num_samples

    @property
    def answer_entropy(self) -> float:
        """Shannon entropy (nats) of the G samples over answer classes, unanswered samples as one more outcome.

        0 when every sample gives the same answer (or none answers); ``log G`` when all G differ. A collapsing
        policy drives it to 0 on every group; it is the answer-level (semantic) entropy that EMPO minimizes
        (Zhang et al. 2025, arXiv 2504.05812).
        """
        counts = [*self.class_sizes, self.num_samples - self.num_valid]
        return -sum(c / self.num_samples * math.log(c / self.num_samples) for c in counts if c)

    @property
    def is_unanimous(self) -> bool:
        """Every sample answered, all with the same answer: the group teaches GRPO nothing."""
        return self.num_distinct == 1 and self.num_valid == self.num_samples

    def share(self, sample: int) -> float:
        """Fraction of the G samples that agree with ``sample``'s answer (0 when it has none)."""
        class_id = self.class_ids[sample]
        return 0.0 if class_id is None else self.class_sizes[class_id] / self.num_samples

    def in_majority(self, sample: int) -> bool:
        return self.majority is not None and self.class_ids[sample] == self.majority


class MajorityVote(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        tie_break: Literal["first_seen", "skip"] = "first_seen"
        """How to elect among classes with equally many votes (see module docstring)."""
        min_vote_share: float = 0.0
        """Skip groups whose majority holds fewer than this fraction of the G samples (0 keeps all)."""

        def __post_init__(self) -> None:
            check_choice("tie_break", self.tie_break, ("first_seen", "skip"))
            check_range("min_vote_share", self.min_vote_share, 0.0, 1.0)

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self, class_ids: Sequence[int | None]) -> Vote:
        """Elect the pseudo-label class from each sample's class id (ids in first-seen order)."""
        if not class_ids:
            raise ValueError("a group needs at least one sample to vote")
        _check_first_seen_order(class_ids)
        counts = collections.Counter(c for c in class_ids if c is not None)
        sizes = tuple(counts[c] for c in range(len(counts)))
        if not sizes:
            return Vote(tuple(class_ids), (), None, GroupStatus.NO_ANSWER)
        top = max(sizes)
        # Ids are numbered in first-seen order, so the lowest tied id is the first sampled.
        majority = sizes.index(top)
        if sizes.count(top) > 1 and self.config.tie_break == "skip":
            status = GroupStatus.TIE
        elif top / len(class_ids) < self.config.min_vote_share:
            status = GroupStatus.LOW_SHARE
        else:
            status = GroupStatus.SCORED
        return Vote(tuple(class_ids), sizes, majority, status)


def _check_first_seen_order(class_ids: Sequence[int | None]) -> None:
    # The tie-break relies on it: class k must first appear before class k+1.
    next_id = 0
    for class_id in class_ids:
        if class_id is None or class_id < next_id:
            continue
        if class_id != next_id:
            raise ValueError(f"class ids must be numbered 0, 1, ... in first-seen order, got {list(class_ids)}")
        next_id += 1
