"""The label-free reward variants on hand-made groups, through the real reward stage (no label is read)."""

import pytest

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.reward.majority_vote import GroupStatus
from megatron_mmupt.reward.modes.majority_certainty import CERTAINTY_WEIGHT, borda_ranks
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.types import Rollout, RolloutGroup


def stage(mode, *overrides):
    return apply_overrides(
        RewardStage.Config(), [f"mode={mode}", "equivalence.symbolic.backend=off", *overrides]
    ).build()


def rollout(answer, logprobs=()):
    text = f"so \\boxed{{{answer}}}" if answer is not None else "no idea"
    return Rollout(text, response_token_ids=tuple(range(len(logprobs))), rollout_logprobs=tuple(logprobs))


def group(*rollouts, answer=None):
    return RolloutGroup("q", tuple(rollouts), answer)


def test_margin_majority_pays_the_winning_margin():
    # 4 votes for 3, 2 for 5, 1 for 7, 1 unanswered: margin (4 - 2) / 8
    (g,) = stage("margin_majority").score_groups([group(*map(rollout, [3, 3, 5, 3, 5, 7, None, 3]))])
    assert g.rewards == pytest.approx([0.25, 0.25, 0, 0.25, 0, 0, 0, 0.25])
    (unanimous,) = stage("margin_majority").score_groups([group(*map(rollout, [2, 2, 2, 2]))])
    assert unanimous.rewards == (1.0, 1.0, 1.0, 1.0)
    (tied,) = stage("margin_majority").score_groups([group(*map(rollout, [1, 1, 2, 2]))])
    assert tied.rewards == (0.0, 0.0, 0.0, 0.0) and tied.status is GroupStatus.SCORED


def test_margin_majority_respects_skipped_groups():
    (g,) = stage("margin_majority", "vote.min_vote_share=0.75").score_groups([group(*map(rollout, [3, 3, 5, 9]))])
    assert g.status is GroupStatus.LOW_SHARE and g.rewards == (0.0, 0.0, 0.0, 0.0)


def test_borda_ranks_average_ties():
    assert borda_ranks([0.1, 0.3, 0.3, -1.0]) == pytest.approx([1 / 3, 5 / 6, 5 / 6, 0.0])
    assert borda_ranks([2.0]) == [1.0]


def test_majority_certainty_orders_samples_inside_their_class():
    rollouts = [
        rollout(4, [-0.1, -0.1]),  # majority, most certain
        rollout(4, [-2.0, -2.0]),  # majority, least certain
        rollout(6, [-0.5]),  # minority
        rollout(None, [-0.01]),  # unanswered: 0 whatever its certainty
        rollout(4, [-1.0, -0.5]),
    ]
    (g,) = stage("majority_certainty").score_groups([group(*rollouts)])
    # answered certainties -0.1, -2.0, -0.5, -0.75 -> ranks 1, 0, 2/3, 1/3
    w = CERTAINTY_WEIGHT
    assert g.rewards == pytest.approx([1 + w, 1.0, w * 2 / 3, 0.0, 1 + w / 3])
    assert min(g.rewards[i] for i in (0, 1, 4)) > g.rewards[2]  # the vote still decides the sign


def test_majority_certainty_without_logprobs_is_the_majority_plus_a_constant():
    (g,) = stage("majority_certainty").score_groups([group(*map(rollout, [1, 1, 2]))])
    assert g.rewards == pytest.approx([1 + CERTAINTY_WEIGHT / 2, 1 + CERTAINTY_WEIGHT / 2, CERTAINTY_WEIGHT / 2])


@pytest.mark.parametrize("mode", ["majority", "vote_share", "margin_majority", "majority_certainty", "random"])
def test_label_free_modes_ignore_the_label(mode):
    rollouts = [rollout(a, [-0.3 * i]) for i, a in enumerate([3, 3, 5, 3])]
    (unlabeled,) = stage(mode).score_groups([group(*rollouts)])
    (labeled,) = stage(mode).score_groups([group(*rollouts, answer="5")])
    assert labeled.rewards == unlabeled.rewards


def test_margin_majority_with_grpo_warns_that_it_is_inert():
    from megatron_mmupt.recipes import resolve_run_config

    with pytest.warns(UserWarning, match="dr_grpo"):
        resolve_run_config("demo", ["reward.mode=margin_majority"]).validate()
