"""The reward stage: ``list[RolloutGroup] -> RewardBatch``.

extract answers -> equivalence classes (one batched pass, ground truth appended last so it never
changes the classes) -> vote -> reward mode -> optional format term -> diagnostics.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, Configurable, check_choice, check_range
from megatron_mmupt.reward.answer_extraction import EXTRACTORS, Extraction, extract_answer
from megatron_mmupt.reward.diagnostics import RewardBatch
from megatron_mmupt.reward.equivalence import Equivalence, GroupAnswers
from megatron_mmupt.reward.majority_vote import MajorityVote
from megatron_mmupt.reward.modes import REWARD_MODES
from megatron_mmupt.reward.types import GroupJudgement, GroupReward, ModeScore, RewardOutput
from megatron_mmupt.rollout.types import RolloutGroup


@dataclasses.dataclass(kw_only=True, slots=True)
class ExtractionConfig(ConfigNode):
    sources: tuple[str, ...] = ("boxed",)
    """Extraction rules tried in order: boxed, answer_tag, answer_is, answer_line. The MM-UPT prompt
    asks for a box, so only ``boxed`` by default (as the reference)."""

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError(f"sources must name at least one extraction rule: {', '.join(EXTRACTORS)}")
        for source in self.sources:
            check_choice("sources", source, tuple(EXTRACTORS))


@dataclasses.dataclass(kw_only=True, slots=True)
class FormatConfig(ConfigNode):
    weight: float = 0.0
    """Reward = (1 - weight) * mode reward + weight * format score. 0 (the default) disables it;
    EasyR1's math recipe uses 0.1."""
    require_think: bool = False
    """Format score 1 only when a ``<think>...</think>`` block precedes the answer (R1-style prompts);
    otherwise 1 whenever the answer came from a ``\\boxed{}``."""

    def __post_init__(self) -> None:
        check_range("weight", self.weight, 0.0, 1.0)


class RewardStage(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        mode: str = "majority"
        """Reward mode (registry ``reward.modes``): majority, vote_share, margin_majority, majority_certainty,
        random (a control), supervised, reference."""
        extraction: ExtractionConfig = dataclasses.field(default_factory=ExtractionConfig)
        equivalence: Equivalence.Config = dataclasses.field(default_factory=Equivalence.Config)
        vote: MajorityVote.Config = dataclasses.field(default_factory=MajorityVote.Config)
        format: FormatConfig = dataclasses.field(default_factory=FormatConfig)

        def __post_init__(self) -> None:
            check_choice("mode", self.mode, REWARD_MODES.names())

    def __init__(self, config: Config) -> None:
        self.config = config
        self.mode = REWARD_MODES.get(config.mode)
        self.equivalence: Equivalence = config.equivalence.build()
        self.vote: MajorityVote = config.vote.build()

    def score_groups(self, groups: Sequence[RolloutGroup]) -> RewardBatch:
        """Rewards for every rollout of every group, plus the batch's diagnostics."""
        _check_unique_ids(groups)
        stats_before = collections.Counter(self.equivalence.judge.stats)
        extractions = [tuple(extract_answer(t, self.config.extraction.sources) for t in g.responses) for g in groups]
        class_ids = self.equivalence.cluster(
            [_answers_with_label(g, e) for g, e in zip(groups, extractions, strict=True)]
        )
        results = []
        for group, group_extractions, ids in zip(groups, extractions, class_ids, strict=True):
            judgement = self._judge(group, group_extractions, ids)
            results.append(self._reward(judgement, self.mode(judgement)))
        symbolic_stats = collections.Counter(self.equivalence.judge.stats) - stats_before
        return RewardBatch(tuple(results), symbolic_stats=dict(symbolic_stats))

    def close(self) -> None:
        self.equivalence.close()

    def _judge(self, group: RolloutGroup, extractions: tuple[Extraction, ...], ids: list[int | None]) -> GroupJudgement:
        sample_ids = ids[: group.num_samples]
        correct = None
        if group.answer is not None:
            label_id = ids[-1]
            correct = tuple(i is not None and i == label_id for i in sample_ids)
        return GroupJudgement(group, extractions, self.vote(sample_ids), correct)

    def _reward(self, judgement: GroupJudgement, score: ModeScore) -> GroupReward:
        group = judgement.group
        if score.status.is_skipped and any(score.rewards):
            raise RuntimeError(f"reward mode {self.config.mode!r} rewarded samples of a skipped group")
        weight = self.config.format.weight
        outputs = []
        for i, rollout in enumerate(group.rollouts):
            fmt = _format_score(rollout.response_text, judgement.extractions[i], self.config.format.require_think)
            outputs.append(
                RewardOutput(
                    reward=(1.0 - weight) * score.rewards[i] + weight * fmt,
                    extracted=score.answers[i],
                    pseudo_label=score.pseudo_label,
                    vote_share=judgement.vote.share(i),
                    format_score=fmt,
                    correct=None if judgement.correct is None else judgement.correct[i],
                )
            )
        return GroupReward(group.prompt_id, tuple(outputs), judgement, score)


def _answers_with_label(group: RolloutGroup, extractions: tuple[Extraction, ...]) -> GroupAnswers:
    # The label goes last: greedy clustering is in order, so it cannot change the samples' classes.
    answers = [e.answer for e in extractions]
    if group.answer is not None:
        answers.append(group.answer)
    return GroupAnswers(answers, group.choices)


def _format_score(text: str, extraction: Extraction, require_think: bool) -> float:
    if extraction.source != "boxed":
        return 0.0
    if require_think:
        think_end = text.find("</think>")
        last_box = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
        return float(text.lstrip().startswith("<think>") and 0 <= think_end < last_box)
    return 1.0


def _check_unique_ids(groups: Sequence[RolloutGroup]) -> None:
    seen: set[str] = set()
    for group in groups:
        if group.prompt_id in seen:
            raise ValueError(f"prompt_id {group.prompt_id!r} appears in two groups of one batch; ids must be unique")
        seen.add(group.prompt_id)
