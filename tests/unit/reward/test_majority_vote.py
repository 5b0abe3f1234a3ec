import math

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.reward.majority_vote import GroupStatus, MajorityVote


def vote(ids, **config):
    return MajorityVote.Config(**config).build()(ids)


def test_majority_and_shares():
    v = vote([0, 1, 0, None, 0])
    assert (v.majority, v.status, v.class_sizes) == (0, GroupStatus.SCORED, (3, 1))
    assert v.majority_share == pytest.approx(3 / 5)
    assert [v.share(i) for i in range(5)] == pytest.approx([0.6, 0.2, 0.6, 0.0, 0.6])
    assert [v.in_majority(i) for i in range(5)] == [True, False, True, False, True]
    assert (v.num_valid, v.num_distinct) == (4, 2)


def test_tie_goes_to_the_first_seen_class():
    assert vote([0, 1, 1, 0]).majority == 0
    assert vote([None, 0, 1, 2, 2, 1]).majority == 1


def test_tie_can_skip_the_group():
    v = vote([0, 1, 1, 0], tie_break="skip")
    assert v.status is GroupStatus.TIE and v.status.is_skipped
    assert vote([0, 1, 1], tie_break="skip").status is GroupStatus.SCORED


def test_unanswered_never_win():
    v = vote([None, None, None, 0])
    assert (v.majority, v.majority_share, v.status) == (0, 0.25, GroupStatus.SCORED)
    nobody = vote([None, None])
    assert (nobody.majority, nobody.status, nobody.majority_share) == (None, GroupStatus.NO_ANSWER, 0.0)


def test_min_vote_share_counts_all_samples():
    # 2 of 4 agree (0.5); the two unanswered samples count against the share.
    assert vote([0, 0, None, None], min_vote_share=0.6).status is GroupStatus.LOW_SHARE
    assert vote([0, 0, None, None], min_vote_share=0.5).status is GroupStatus.SCORED


def test_answer_entropy_and_unanimity():
    assert vote([0, 0, 0, 0]).answer_entropy == 0.0 and vote([0, 0, 0, 0]).is_unanimous
    assert vote([0, 1, 2, 3]).answer_entropy == pytest.approx(math.log(4))
    # two answers and the unanswered pair as one outcome: shares 0.25, 0.25, 0.5
    assert vote([0, 1, None, None]).answer_entropy == pytest.approx(1.5 * math.log(2))
    assert not vote([0, 0, 0, None]).is_unanimous  # a sample failed to answer: not agreement
    assert vote([None, None]).answer_entropy == 0.0 and not vote([None, None]).is_unanimous


def test_class_ids_must_be_in_first_seen_order():
    with pytest.raises(ValueError, match="first-seen order"):
        vote([1, 0])
    with pytest.raises(ValueError, match="at least one sample"):
        vote([])


def test_config_validation():
    with pytest.raises(ConfigError, match="tie_break"):
        MajorityVote.Config(tie_break="random")
    with pytest.raises(ConfigError, match="min_vote_share"):
        MajorityVote.Config(min_vote_share=1.5)
