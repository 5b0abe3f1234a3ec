import math

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.reward.majority_vote import GroupStatus
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.types import Rollout, RolloutGroup
from megatron_mmupt.utils.errors import InputError


def group(prompt_id, *responses, answer=None, choices=()):
    return RolloutGroup(prompt_id, tuple(Rollout(r) for r in responses), answer, tuple(choices))


def boxed(*answers):
    return [f"Reasoning... so the answer is \\boxed{{{a}}}." if a is not None else "I am not sure." for a in answers]


def build(*overrides):
    return apply_overrides(RewardStage.Config(), list(overrides)).build()


SPLIT = group("q", *boxed("\\frac{1}{2}", "0.5", None, "2", "1/2"), answer="0.5")


def test_majority_rewards_the_equivalence_class(stage):
    (g,) = stage.score_groups([SPLIT])
    assert g.rewards == (1.0, 1.0, 0.0, 0.0, 1.0)
    assert g.score.pseudo_label == "\\frac{1}{2}"  # first sampled member of the class
    assert [o.vote_share for o in g.outputs] == pytest.approx([0.6, 0.6, 0.0, 0.2, 0.6])
    assert [o.correct for o in g.outputs] == [True, True, False, False, True]
    assert [o.extracted for o in g.outputs] == ["\\frac{1}{2}", "0.5", None, "2", "1/2"]


def test_unanswered_samples_never_vote_or_earn(stage):
    # The reference would elect "None" here and reward the three unanswered samples.
    (g,) = stage.score_groups([group("q", *boxed(None, None, None, "4"))])
    assert g.rewards == (0.0, 0.0, 0.0, 1.0)
    assert g.status is GroupStatus.SCORED


def test_all_unanswered_group_is_skipped(stage):
    (g,) = stage.score_groups([group("q", *boxed(None, None))])
    assert g.status is GroupStatus.NO_ANSWER and g.rewards == (0.0, 0.0)
    assert g.score.pseudo_label is None


def test_vote_share_mode():
    s = build("mode=vote_share", "equivalence.symbolic.backend=off")
    (g,) = s.score_groups([SPLIT])
    assert g.rewards == pytest.approx((0.6, 0.6, 0.0, 0.2, 0.6))


def test_supervised_mode_uses_the_label_and_ignores_the_vote():
    s = build("mode=supervised", "vote.min_vote_share=0.9", "equivalence.symbolic.backend=off")
    (g,) = s.score_groups([group("q", *boxed("3", "3", "4"), answer="4")])
    assert g.rewards == (0.0, 0.0, 1.0)
    assert g.status is GroupStatus.SCORED and g.score.pseudo_label == "4"
    with pytest.raises(InputError, match=r"needs a ground-truth answer.*'nolabel'"):
        s.score_groups([group("nolabel", *boxed("3"))])


def test_reference_mode_reproduces_the_none_reward_hack():
    s = build("mode=reference", "equivalence.symbolic.backend=off")
    (g,) = s.score_groups([group("q", *boxed(None, None, "4"), answer="4")])
    assert g.score.pseudo_label == "None"
    assert g.rewards == (1.0, 1.0, 0.0)
    assert g.score.pseudo_label_correct is False


def test_reference_mode_votes_over_raw_strings():
    responses = boxed("2", "0.5", "1/2", "2", "\\frac12")
    # The raw-string vote elects "2" (2 votes against 1, 1, 1)...
    (ref,) = build("mode=reference", "equivalence.symbolic.backend=off").score_groups([group("q", *responses)])
    assert ref.score.pseudo_label == "2" and ref.rewards == (1.0, 0.0, 0.0, 1.0, 0.0)
    # ...while the equivalence vote elects one half (3 votes against 2).
    (ours,) = build("equivalence.symbolic.backend=off").score_groups([group("q", *responses)])
    assert ours.score.pseudo_label == "0.5" and ours.rewards == (0.0, 1.0, 1.0, 0.0, 1.0)


def test_min_vote_share_skips_groups_and_zeroes_their_rewards():
    s = build("vote.min_vote_share=0.7", "equivalence.symbolic.backend=off")
    low, high = s.score_groups([group("low", *boxed("1", "1", "2")), group("high", *boxed("1", "1", "1"))])
    assert low.status is GroupStatus.LOW_SHARE and low.rewards == (0.0, 0.0, 0.0)
    assert high.status is GroupStatus.SCORED and high.rewards == (1.0, 1.0, 1.0)


def test_format_term_composes_with_any_mode():
    s = build("format.weight=0.1", "equivalence.symbolic.backend=off", "extraction.sources=boxed,answer_is")
    (g,) = s.score_groups([group("q", "\\boxed{3}", "The answer is 3.", "\\boxed{4}")])
    assert g.rewards == pytest.approx((0.9 * 1 + 0.1 * 1, 0.9 * 1 + 0.1 * 0, 0.1 * 1))


def test_format_can_require_a_think_block():
    s = build("format.weight=1.0", "format.require_think=true", "equivalence.symbolic.backend=off")
    (g,) = s.score_groups(
        [group("q", "<think>work</think> \\boxed{3}", "\\boxed{3}", "\\boxed{3} <think>late</think>")]
    )
    assert g.rewards == (1.0, 0.0, 0.0)


def test_label_never_changes_the_vote(stage):
    with_label, without = stage.score_groups(
        [group("a", *boxed("2", "3", "3"), answer="2"), group("b", *boxed("2", "3", "3"))]
    )
    assert with_label.rewards == without.rewards == (0.0, 1.0, 1.0)
    assert with_label.judgement.vote == without.judgement.vote


def test_multiple_choice_letters_and_option_texts_vote_together(stage):
    (g,) = stage.score_groups([group("mc", *boxed("(B) 12", "12", "B", "C"), answer="12", choices=("10", "12", "13"))])
    assert g.rewards == (1.0, 1.0, 1.0, 0.0)
    assert [o.correct for o in g.outputs] == [True, True, True, False]


def test_metrics_match_a_hand_computation(stage):
    batch = stage.score_groups(
        [
            group("a", *boxed("1", "1", "2", None), answer="1"),  # majority 1 (correct), share 0.5
            group("b", *boxed("5", "6", "6", "6"), answer="5"),  # majority 6 (wrong), share 0.75
            group("c", *boxed(None, None, None, None)),  # no answer, unlabeled
        ]
    )
    m = batch.metrics()
    assert m["reward/mean"] == pytest.approx((2 + 3) / 12)
    assert m["vote/groups"] == 3
    assert m["vote/majority_ratio"] == pytest.approx((0.5 + 0.75 + 0.0) / 3)
    assert m["vote/answer_rate"] == pytest.approx(7 / 12)
    assert m["vote/distinct_answers"] == pytest.approx((2 + 2 + 0) / 3)
    # a: classes {1: 2, 2: 1} + 1 unanswered; b: {5: 1, 6: 3}; c: all unanswered (one outcome, entropy 0)
    entropy_a = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    entropy_b = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert m["vote/answer_entropy"] == pytest.approx((entropy_a + entropy_b + 0.0) / 3)
    assert m["vote/unanimous_rate"] == 0.0
    assert (m["vote/skipped_groups"], m["vote/skipped_no_answer"]) == (1, 1)
    assert m["label/groups"] == 2
    assert m["label/label_accuracy"] == pytest.approx(0.5)
    assert m["label/maj_at_k"] == pytest.approx(0.5)
    assert m["label/pass_at_1"] == pytest.approx(3 / 8)
    # a: rewards (1,1,0,0) vs correct (T,T,F,F) -> 4 agree; b: rewards (0,1,1,1) vs correct (T,F,F,F) -> 0 agree
    assert m["label/reward_accuracy"] == pytest.approx(4 / 8)
    assert m["symbolic/timeouts"] == 0


def test_unlabeled_batches_report_no_label_metrics(stage):
    metrics = stage.score_groups([group("a", *boxed("1"))]).metrics()
    assert not any(k.startswith("label/") for k in metrics)


@pytest.mark.parametrize(
    "response",
    [
        "",
        "x" * 100_000,
        "\\boxed{" * 20_000,
        "}{" * 10_000 + "\\boxed{1}",
        "\\boxed{\\frac{1}{}",
        "\\boxed{ü∑∂ 中文 🙂}",
        "\\boxed{\\boxed{\\boxed{7}}}",
        "\\boxed{" + "1" * 900 + "}",
        "\\boxed{2^{2^{2^{2^{2^{2^{2}}}}}}}",
        "\\boxed{\\begin{pmatrix} 1 & \\end{pmatrix}}",
        "\\boxed{\\frac{1}{0}}",
        "\\boxed{0/0}",
        "\\boxed{nan}",
        "\\boxed{\\infty}",
    ],
)
def test_hostile_responses_get_a_finite_reward(stage, response):
    (g,) = stage.score_groups([group("hostile", response, response, "\\boxed{1}")])
    assert all(math.isfinite(r) and 0.0 <= r <= 1.0 for r in g.rewards)
    assert len(g.outputs) == 3
    assert g.outputs[2].extracted == "1"


def test_duplicate_prompt_ids_are_refused(stage):
    with pytest.raises(ValueError, match=r"appears in two groups"):
        stage.score_groups([group("a", "x"), group("a", "y")])


def test_config_errors_name_the_key_and_choices():
    with pytest.raises(ConfigError, match=r"mode='best'.*majority"):
        RewardStage.Config(mode="best")
    with pytest.raises(ConfigError, match=r"sources.*answer_is"):
        apply_overrides(RewardStage.Config(), ["extraction.sources=boxed,guess"])
    with pytest.raises(ConfigError, match=r"weight"):
        apply_overrides(RewardStage.Config(), ["format.weight=2"])


def test_symbolic_stats_are_per_batch(stage):
    first = stage.score_groups([group("s1", *boxed("x \\neq 7", "7 \\neq x"))])
    assert first.symbolic_stats.get("analyze_calls", 0) >= 1
    again = stage.score_groups([group("s2", *boxed("x \\neq 7", "7 \\neq x"))])
    assert again.symbolic_stats.get("analyze_calls", 0) == 0  # cached: this batch cost nothing
    assert again.symbolic_stats["analyze_cache_hits"] >= 1
