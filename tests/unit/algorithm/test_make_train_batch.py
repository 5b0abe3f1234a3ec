"""make_train_batch: advantages, filters and their counts, non-finite rewards; TrainBatch validation."""

import pytest
import torch

from megatron_mmupt.algorithm.batch import make_train_batch
from megatron_mmupt.algorithm.config import AdvantageConfig, AlgorithmConfig, FilterConfig
from megatron_mmupt.algorithm.types import TrainBatch

# Groups: 10 -> mixed rewards, 20 -> all equal (1, 1, 1), 30 -> mixed, 40 -> a single sample.
GROUP_IDS = torch.tensor([10, 20, 10, 30, 20, 30, 10, 20, 40])
REWARDS = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
TRUNCATED = torch.tensor([False, False, True, False, False, False, False, True, False])
T = 4


def _make(cfg: AlgorithmConfig, rewards: torch.Tensor = REWARDS, **kw):
    mask = torch.ones(len(rewards), T, dtype=torch.bool)
    return make_train_batch(
        rewards=rewards, group_ids=GROUP_IDS, response_mask=mask, truncated=TRUNCATED, cfg=cfg, **kw
    )


def test_defaults_keep_everything_and_compute_grpo():
    batch, metrics = _make(AlgorithmConfig())
    assert batch.num_samples == 9
    assert batch.sample_ids.tolist() == list(range(9))
    # Group 10: rewards [1, 0, 1], mean 2/3, unbiased std sqrt(1/3).
    std = (1 / 3) ** 0.5
    expected_10 = [(1 - 2 / 3) / (std + 1e-6), (0 - 2 / 3) / (std + 1e-6), (1 - 2 / 3) / (std + 1e-6)]
    torch.testing.assert_close(batch.advantages[[0, 2, 6]], torch.tensor(expected_10))
    assert batch.advantages[[1, 4, 7, 8]].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert batch.response_mask.all()
    assert metrics["filter/num_groups"].item() == 4
    assert metrics["filter/num_zero_adv_groups"].item() == 2  # group 20 and the single-sample group 40
    assert metrics["filter/num_dropped_samples"].item() == 0
    assert metrics["filter/num_truncated"].item() == 2
    assert metrics["filter/num_masked_truncated"].item() == 0
    assert metrics["reward/mean"].item() == pytest.approx(7 / 9)
    assert metrics["reward/std"].item() == pytest.approx(((7 / 9) * (2 / 9)) ** 0.5)  # population std of 0/1
    expected_30 = 0.5 / (0.5**0.5 + 1e-6)  # group 30: rewards [0, 1]
    assert metrics["advantage/max"].item() == pytest.approx(expected_30)
    assert metrics["advantage/min"].item() == pytest.approx(expected_10[1])
    assert metrics["nonfinite/rewards"].item() == 0


def test_drop_zero_advantage_groups_keeps_sample_ids():
    cfg = AlgorithmConfig(filters=FilterConfig(zero_advantage_groups="drop"))
    batch, metrics = _make(cfg)
    assert batch.sample_ids.tolist() == [0, 2, 3, 5, 6]
    assert batch.group_ids.tolist() == [10, 10, 30, 30, 10]
    assert metrics["filter/num_dropped_samples"].item() == 4
    # Sample 7 was truncated but dropped with its group: it is not counted as masked.
    assert metrics["filter/num_masked_truncated"].item() == 0


def test_mask_overlong_responses():
    cfg = AlgorithmConfig(filters=FilterConfig(overlong="mask"))
    batch, metrics = _make(cfg)
    assert batch.response_mask.all(dim=-1).tolist() == [not t for t in TRUNCATED.tolist()]
    assert not batch.response_mask[TRUNCATED].any()
    assert metrics["filter/num_masked_truncated"].item() == 2
    # Truncated samples still vote: group 10's advantages are those computed with sample 2 included.
    assert batch.advantages[2].item() < 0


def test_estimator_choice_is_used():
    batch, _ = _make(AlgorithmConfig(advantage=AdvantageConfig(estimator="dr_grpo")))
    torch.testing.assert_close(batch.advantages[[0, 2, 6]], torch.tensor([1 / 3, -2 / 3, 1 / 3]))


def test_nonfinite_reward_raises_by_default():
    rewards = REWARDS.clone()
    rewards[3] = float("nan")
    with pytest.raises(FloatingPointError, match="in rewards"):
        _make(AlgorithmConfig(), rewards=rewards)


def test_nonfinite_reward_is_dropped_and_counted():
    rewards = REWARDS.clone()
    rewards[3] = float("inf")
    batch, metrics = _make(AlgorithmConfig(on_nonfinite="drop"), rewards=rewards)
    assert metrics["nonfinite/rewards"].item() == 1
    assert 3 not in batch.sample_ids.tolist()
    assert torch.isfinite(batch.advantages).all()
    # Group 30 now holds only sample 5: a single-sample group, advantage 0.
    assert batch.advantages[batch.sample_ids == 5].item() == 0.0


def test_logprobs_travel_with_their_rows():
    logprobs = torch.arange(9 * T, dtype=torch.float32).view(9, T)
    cfg = AlgorithmConfig(filters=FilterConfig(zero_advantage_groups="drop"))
    batch, _ = _make(cfg, old_logprobs=logprobs, rollout_logprobs=logprobs + 1)
    torch.testing.assert_close(batch.old_logprobs, logprobs[batch.sample_ids])
    torch.testing.assert_close(batch.rollout_logprobs, logprobs[batch.sample_ids] + 1)
    assert batch.ref_logprobs is None


def test_train_batch_split_and_validation():
    batch, _ = _make(AlgorithmConfig())
    parts = list(batch.split(4))
    assert [p.num_samples for p in parts] == [4, 4, 1]
    assert torch.cat([p.sample_ids for p in parts]).tolist() == list(range(9))
    with pytest.raises(ValueError, match="micro_batch_size must be > 0"):
        list(batch.split(0))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("advantages", torch.zeros(8), r"advantages must have shape \(9,\)"),
        ("group_ids", torch.zeros(9), "group_ids must be an integer tensor"),
        ("truncated", torch.zeros(9), "truncated must be a bool tensor"),
        ("old_logprobs", torch.zeros(9, T + 1), r"old_logprobs must have shape \(9, 4\)"),
        ("response_mask", torch.ones(9, T), "response_mask must be a .* bool tensor"),
    ],
)
def test_train_batch_refuses_bad_shapes(field, value, message):
    fields = {
        "sample_ids": torch.arange(9),
        "group_ids": GROUP_IDS,
        "rewards": REWARDS,
        "advantages": torch.zeros(9),
        "response_mask": torch.ones(9, T, dtype=torch.bool),
        "truncated": TRUNCATED,
    }
    with pytest.raises(ValueError, match=message):
        TrainBatch(**(fields | {field: value}))


def test_version_lag_follows_its_rows_through_the_filters():
    lag = torch.arange(9)
    batch, _ = _make(AlgorithmConfig(filters=FilterConfig(zero_advantage_groups="drop")), version_lag=lag)
    assert batch.version_lag.tolist() == batch.sample_ids.tolist()  # groups 20 and 40 dropped, lags kept per row
    assert _make(AlgorithmConfig())[0].version_lag is None  # default: 0 for every row
