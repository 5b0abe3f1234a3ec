"""Advantage estimators against direct per-group loops (statistics module, plain floats)."""

import math
import statistics

import pytest
import torch

from megatron_mmupt.algorithm.advantage import ADVANTAGE_ESTIMATORS, group_stats
from megatron_mmupt.algorithm.config import AdvantageConfig
from megatron_mmupt.utils.registry import UnknownEntryError

# Arbitrary, non-contiguous, interleaved group ids; group 100 is a single sample; group -3 is all-equal.
GROUP_IDS = [7, -3, 7, 100, -3, 7, 42, 42, -3, 7, 42]
REWARDS = [1.0, 0.5, 0.0, 0.3, 0.5, 1.0, 0.2, 0.9, 0.5, 0.25, 0.7]


def _groups(ids, rewards):
    groups: dict[int, list[float]] = {}
    for g, r in zip(ids, rewards, strict=True):
        groups.setdefault(g, []).append(r)
    return groups


def direct_grpo(ids, rewards, eps=1e-6):
    groups = _groups(ids, rewards)
    out = []
    for g, r in zip(ids, rewards, strict=True):
        members = groups[g]
        if len(members) == 1 or len(set(members)) == 1:
            out.append(0.0)
            continue
        out.append((r - statistics.fmean(members)) / (statistics.stdev(members) + eps))
    return out


def direct_dr_grpo(ids, rewards):
    groups = _groups(ids, rewards)
    return [
        0.0 if len(set(groups[g])) == 1 else r - statistics.fmean(groups[g]) for g, r in zip(ids, rewards, strict=True)
    ]


def direct_rloo(ids, rewards):
    groups = _groups(ids, rewards)
    out = []
    for g, r in zip(ids, rewards, strict=True):
        members = groups[g]
        if len(members) == 1 or len(set(members)) == 1:
            out.append(0.0)
        else:
            out.append(r - (sum(members) - r) / (len(members) - 1))
    return out


DIRECT = {"grpo": direct_grpo, "dr_grpo": direct_dr_grpo, "rloo": direct_rloo}


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_estimator_matches_direct_loop(name):
    adv = ADVANTAGE_ESTIMATORS.get(name)(torch.tensor(REWARDS), torch.tensor(GROUP_IDS), AdvantageConfig())
    assert adv.dtype == torch.float32 and adv.shape == (len(REWARDS),)
    torch.testing.assert_close(adv, torch.tensor(DIRECT[name](GROUP_IDS, REWARDS), dtype=torch.float32))


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_estimator_is_invariant_to_row_order(name):
    perm = torch.randperm(len(REWARDS), generator=torch.Generator().manual_seed(0))
    fn = ADVANTAGE_ESTIMATORS.get(name)
    full = fn(torch.tensor(REWARDS), torch.tensor(GROUP_IDS), AdvantageConfig())
    shuffled = fn(torch.tensor(REWARDS)[perm], torch.tensor(GROUP_IDS)[perm], AdvantageConfig())
    torch.testing.assert_close(shuffled, full[perm])


def test_grpo_uses_unbiased_std_and_eps():
    # One group [0, 1]: mean 0.5, unbiased std sqrt(0.5); eps changes the value measurably when large.
    cfg = AdvantageConfig(eps=0.1)
    adv = ADVANTAGE_ESTIMATORS.get("grpo")(torch.tensor([0.0, 1.0]), torch.tensor([5, 5]), cfg)
    expected = 0.5 / (math.sqrt(0.5) + 0.1)
    torch.testing.assert_close(adv, torch.tensor([-expected, expected]))


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_all_equal_group_is_exactly_zero_even_with_inexact_mean(name):
    # 0.1 * 3 / 3 != 0.1 in floating point: the estimator must not return rounding noise / eps.
    adv = ADVANTAGE_ESTIMATORS.get(name)(torch.tensor([0.1, 0.1, 0.1]), torch.tensor([0, 0, 0]), AdvantageConfig())
    assert torch.equal(adv, torch.zeros(3))


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_single_sample_group_is_zero_not_nan(name):
    adv = ADVANTAGE_ESTIMATORS.get(name)(torch.tensor([0.7]), torch.tensor([3]), AdvantageConfig())
    assert torch.equal(adv, torch.zeros(1))


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_empty_batch(name):
    adv = ADVANTAGE_ESTIMATORS.get(name)(torch.zeros(0), torch.zeros(0, dtype=torch.long), AdvantageConfig())
    assert adv.shape == (0,)


def test_group_stats_counts_and_all_equal():
    stats = group_stats(torch.tensor(REWARDS), torch.tensor(GROUP_IDS))
    # Dense indices follow sorted ids: -3, 7, 42, 100.
    assert stats.num_groups == 4
    assert stats.count.tolist() == [3.0, 4.0, 3.0, 1.0]
    assert stats.all_equal.tolist() == [True, False, False, True]
    assert stats.index.tolist() == [1, 0, 1, 3, 0, 1, 2, 2, 0, 1, 2]


def test_float_group_ids_are_refused():
    with pytest.raises(ValueError, match="group_ids must be an integer tensor"):
        group_stats(torch.zeros(2), torch.zeros(2))


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        group_stats(torch.zeros(3), torch.zeros(2, dtype=torch.long))


def test_unknown_estimator_lists_valid_names():
    with pytest.raises(UnknownEntryError, match="unknown advantage estimator 'grpoo'; valid names:") as err:
        ADVANTAGE_ESTIMATORS.get("grpoo")
    for name in DIRECT:
        assert name in str(err.value)
