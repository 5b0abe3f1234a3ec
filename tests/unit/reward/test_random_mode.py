"""The ``random`` control arm: the vote's reward rate, drawn independently of what each sample answered."""

import statistics

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.reward.majority_vote import GroupStatus
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.types import Rollout, RolloutGroup


def stage(*overrides):
    return apply_overrides(RewardStage.Config(), ["equivalence.symbolic.backend=off", *overrides]).build()


def group(prompt_id, answers, answer=None):
    rollouts = tuple(Rollout(f"try {i}: \\boxed{{{a}}}") for i, a in enumerate(answers))
    return RolloutGroup(prompt_id, rollouts, answer)


def test_random_rewards_have_the_vote_rate_but_not_its_choice():
    answers = [3, 3, 3, 3, 3, 3, 5, 7]  # the vote rewards 6 of 8
    groups = [group(f"q{i}", answers) for i in range(400)]
    random_batch, vote_batch = stage("mode=random").score_groups(groups), stage("mode=majority").score_groups(groups)
    rewards = [r for g in random_batch for r in g.rewards]
    assert set(rewards) == {0.0, 1.0}
    assert abs(statistics.fmean(rewards) - 0.75) < 0.03  # 3200 draws of Bernoulli(0.75): std 0.008
    # the minority samples (answers 5 and 7) are paid as often as the majority ones: no information
    minority = statistics.fmean(r for g in random_batch for r in g.rewards[6:])
    assert abs(minority - 0.75) < 0.06
    assert [g.rewards for g in random_batch] != [g.rewards for g in vote_batch]


def test_random_rewards_are_seeded_by_the_group():
    groups = [group(f"q{i}", [1, 1, 2, 4]) for i in range(20)]
    first = [g.rewards for g in stage("mode=random").score_groups(groups)]
    assert first == [g.rewards for g in stage("mode=random").score_groups(groups)]  # reproducible
    assert len(set(first)) > 1  # groups draw independently


def test_random_respects_skipped_groups_and_reads_no_label():
    (skipped,) = stage("mode=random", "vote.min_vote_share=0.75").score_groups([group("q", [3, 3, 5, 9])])
    assert skipped.status is GroupStatus.LOW_SHARE and skipped.rewards == (0.0,) * 4
    (plain,) = stage("mode=random").score_groups([group("q", [3, 3, 5, 3])])
    (labeled,) = stage("mode=random").score_groups([group("q", [3, 3, 5, 3], answer="5")])
    assert plain.rewards == labeled.rewards
