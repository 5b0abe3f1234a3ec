"""The collapse signals and the guard's decisions on hand-made steps (real reward stage, real TrainBatch)."""

import dataclasses
import math

import pytest
import torch

from megatron_mmupt.algorithm.types import TrainBatch
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.types import Rollout, RolloutGroup
from megatron_mmupt.trainer.collapse_guard import CollapseGuard, CollapseWarning
from megatron_mmupt.trainer.collapse_signals import CollapseSignals


@pytest.fixture(scope="module")
def reward():
    s = RewardStage.Config(mode="majority").build()
    yield s
    s.close()


def rollout(answer, logprob):
    text = f"\\boxed{{{answer}}}" if answer is not None else "?"
    return Rollout(text, response_token_ids=(7, 7), rollout_logprobs=(logprob, logprob))


def groups_of(*answer_lists, logprob=-1.0):
    return [
        RolloutGroup(f"q{i}", tuple(rollout(a, logprob) for a in answers)) for i, answers in enumerate(answer_lists)
    ]


def train_batch(groups):
    group_ids = torch.tensor([i for i, g in enumerate(groups) for _ in g.rollouts])
    n = group_ids.numel()
    return TrainBatch(
        sample_ids=torch.arange(n), group_ids=group_ids, rewards=torch.zeros(n), advantages=torch.ones(n),
        response_mask=torch.ones(n, 2, dtype=torch.bool), truncated=torch.zeros(n, dtype=torch.bool),
    )  # fmt: skip


def guard(*overrides):
    return apply_overrides(CollapseGuard.Config(), list(overrides)).build()


def step(g, reward, n, groups):
    return g.step(n, train_batch(groups), reward.score_groups(groups), groups)


NARROW = ([1, 1, 2, 3], [5, 6, 6, 7])  # shares 0.5, 0.5
MIXED = ([1, 1, 1, 2], [5, 6, 7, 8])  # shares 0.75, 0.25
CONSENSUS = ([1, 1, 1, 1], [6, 6, 6, None])  # shares 1.0, 0.75


def test_signals_match_a_hand_computation(reward):
    groups = groups_of(*CONSENSUS, logprob=-0.5)
    s = CollapseSignals.measure(reward.score_groups(groups), groups)
    assert s.majority_share == pytest.approx((1.0 + 0.75) / 2)
    assert s.answer_entropy == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / 2)
    assert (s.distinct_answers, s.unanimous_rate, s.token_entropy) == (1.0, 0.5, 0.5)
    no_logprobs = [RolloutGroup("q", (Rollout("\\boxed{1}"),))]
    assert CollapseSignals.measure(reward.score_groups(no_logprobs), no_logprobs).token_entropy is None


def test_relative_thresholds_wait_for_the_baseline_and_the_alarm_warns(reward):
    g = guard("baseline_steps=2", "smoothing=1", "max_share_rise=0.2", "max_majority_share=none",
              "max_unanimous_rate=none", "min_entropy_ratio=none")  # fmt: skip
    for n in (1, 2):
        _, metrics = step(g, reward, n, groups_of(*NARROW))
        assert metrics["guard/alarm"] == 0 and "guard/share_rise" not in metrics
    _, metrics = step(g, reward, 3, groups_of(*MIXED))  # rise 0.0: no alarm
    assert metrics["guard/share_rise"] == pytest.approx(0.0) and metrics["guard/alarm"] == 0
    with pytest.warns(CollapseWarning, match=r"step 4: .*share_rise=0\.375 \(max_share_rise=0\.2\); action: warn"):
        batch, metrics = step(g, reward, 4, groups_of(*CONSENSUS))
    assert metrics["guard/alarm_max_share_rise"] == 1 and metrics["guard/alarm"] == 1
    assert batch.num_samples == 8 and metrics["guard/skipped_groups"] == 0  # warn changes nothing


def test_signals_are_smoothed(reward):
    g = guard("smoothing=0.5")
    step(g, reward, 1, groups_of(*NARROW))
    _, metrics = step(g, reward, 2, groups_of(*CONSENSUS))
    assert metrics["guard/majority_share"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.875)
    assert metrics["entropy/sampled_tokens"] == pytest.approx(1.0)


def test_skip_drops_the_narrow_groups_of_an_alarmed_step(reward):
    g = guard("action=skip", "max_unanimous_rate=0.4", "skip_below_share=0.8")
    with pytest.warns(CollapseWarning, match="unanimous_rate=0.500"):
        batch, metrics = step(g, reward, 1, groups_of(*CONSENSUS))
    assert batch.group_ids.tolist() == [0, 0, 0, 0] and metrics["guard/skipped_groups"] == 1


def test_scale_shrinks_the_advantages(reward):
    g = guard("action=scale", "max_majority_share=0.4", "advantage_scale=0.25")
    with pytest.warns(CollapseWarning):
        batch, metrics = step(g, reward, 1, groups_of(*MIXED))
    assert torch.equal(batch.advantages, torch.full((8,), 0.25)) and metrics["guard/advantage_scale"] == 0.25
    quiet = guard("action=scale")
    batch, metrics = step(quiet, reward, 1, groups_of(*MIXED))
    assert torch.equal(batch.advantages, torch.ones(8)) and metrics["guard/advantage_scale"] == 1.0


def test_stop_empties_the_batch_and_stop_after_escalates(reward):
    g = guard("action=stop", "max_majority_share=0.4")
    with pytest.warns(CollapseWarning, match="action: stop"):
        batch, metrics = step(g, reward, 1, groups_of(*MIXED))
    assert batch.num_samples == 0 and g.stopped and metrics["guard/stop"] == 1
    g = guard("action=scale", "max_majority_share=0.4", "stop_after=2")
    with pytest.warns(CollapseWarning, match="action: scale"):
        step(g, reward, 1, groups_of(*MIXED))
    assert not g.stopped
    with pytest.warns(CollapseWarning, match="action: stop"):
        step(g, reward, 2, groups_of(*MIXED))
    assert g.stopped


def test_token_entropy_ratio_alarms_when_the_policy_sharpens(reward):
    g = guard("baseline_steps=1", "smoothing=1", "min_entropy_ratio=0.5")
    step(g, reward, 1, groups_of(*NARROW, logprob=-1.0))
    with pytest.warns(CollapseWarning, match="entropy_ratio=0.400"):
        _, metrics = step(g, reward, 2, groups_of(*NARROW, logprob=-0.4))
    assert metrics["guard/alarm_min_entropy_ratio"] == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("action=halt", "action='halt' is not valid; choose one of: warn, skip, scale, stop"),
        ("advantage_scale=2", "advantage_scale=2.0 must be in \\(0, 1\\]"),
        ("max_unanimous_rate=1.5", "max_unanimous_rate=1.5 is out of range"),
        ("smoothing=0", "smoothing=0.0 must be in \\(0, 1\\]"),
    ],
)
def test_bad_config_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        guard(override)


def test_a_restored_guard_decides_as_the_uninterrupted_one(reward):
    """The state goes into a checkpoint's JSON trainer state: a resumed run sees the same averages and alarms."""
    import json

    steps = [NARROW, MIXED, NARROW, CONSENSUS, CONSENSUS]
    whole = guard("max_share_rise=0.1", "stop_after=3")
    expected = [step(whole, reward, n, groups_of(*s))[1] for n, s in enumerate(steps, 1)]
    first = guard("max_share_rise=0.1", "stop_after=3")
    for n, s in enumerate(steps[:3], 1):
        step(first, reward, n, groups_of(*s))
    resumed = guard("max_share_rise=0.1", "stop_after=3")
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    with pytest.warns(CollapseWarning):
        after = [step(resumed, reward, n, groups_of(*s))[1] for n, s in enumerate(steps[3:], 4)]
    assert after == expected[3:]
    assert expected[-1]["guard/alarm"] == 1.0  # the restored baseline is what makes these steps alarm


def test_replaying_logged_signals_decides_as_the_run_did(reward):
    from megatron_mmupt.trainer.collapse_guard import replay

    steps = [NARROW, NARROW, NARROW, MIXED, CONSENSUS, CONSENSUS]
    live, logged, live_alarms = guard("max_share_rise=0.1"), [], []
    with pytest.warns(CollapseWarning):
        for n, answers in enumerate(steps, start=1):
            groups = groups_of(*answers)
            _, metrics = step(live, reward, n, groups)
            signals = CollapseSignals.measure(reward.score_groups(groups), groups)
            assert CollapseSignals.from_metrics(signals.to_metrics()) == signals  # what metrics.jsonl keeps
            logged.append((n, CollapseSignals.from_metrics(signals.to_metrics())))
            live_alarms += [n] if metrics["guard/alarm"] else []
    assert (
        live_alarms and replay(apply_overrides(CollapseGuard.Config(), ["max_share_rise=0.1"]), logged) == live_alarms
    )


def test_the_reference_kl_is_the_k3_of_the_sampled_tokens_and_can_alarm(reward):
    groups = groups_of(*MIXED)
    batch = train_batch(groups)
    old = torch.full((batch.sample_ids.numel(), 2), -1.0)
    batch = dataclasses.replace(batch, old_logprobs=old, ref_logprobs=old - 0.5)  # log r = -0.5 on every token
    signals = CollapseSignals.measure(reward.score_groups(groups), groups, batch)
    assert signals.reference_kl == pytest.approx(math.exp(-0.5) + 0.5 - 1)
    assert CollapseSignals.measure(reward.score_groups(groups), groups).reference_kl is None  # no reference
    g = guard("max_reference_kl=0.1", "smoothing=1.0")
    with pytest.warns(CollapseWarning, match=r"reference_kl=0\.107 \(max_reference_kl=0\.1\)"):
        _, metrics = g.step(1, batch, reward.score_groups(groups), groups)
    assert metrics["guard/alarm_max_reference_kl"] == 1.0 and metrics["kl/reference"] == pytest.approx(0.1065, 1e-3)
