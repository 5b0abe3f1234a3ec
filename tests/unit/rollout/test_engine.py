"""The protocol's vocabulary: sampling config, per-sample seeds, memory tags, rollout types, token policy."""

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.rollout.engine import MemoryTag, SamplingConfig, memory_tags, sample_seed
from megatron_mmupt.rollout.token_policy import SUPPRESSED_LOGIT_BIAS, TokenPolicy
from megatron_mmupt.rollout.types import FinishReason, Rollout, RolloutGroup


def test_defaults_are_the_mm_upt_reference():
    sampling = SamplingConfig()
    assert (sampling.n, sampling.temperature, sampling.top_p, sampling.top_k) == (10, 0.7, 0.99, -1)
    assert sampling.truncates and not sampling.is_greedy
    assert SamplingConfig(temperature=0.0).is_greedy


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("n=0", "n=0 is out of range"),
        ("temperature=-1", "temperature=-1.0 is out of range"),
        ("top_p=0", "top_p=0.0 must lie in"),
        ("max_new_tokens=0", "max_new_tokens=0 must be > 0"),
        ("stop_token_ids=[-3]", r"must be non-negative integers, not \[-3\]"),
    ],
)
def test_bad_sampling_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(SamplingConfig(), [override])


def test_sample_seeds_are_stable_distinct_and_tied_to_the_batch():
    batch = PromptBatch((), epoch=0, step_index=4)
    seeds = [sample_seed(1, batch, "p", j) for j in range(10)]
    assert seeds == [sample_seed(1, batch, "p", j) for j in range(10)]  # no process-dependent hashing
    assert len(set(seeds)) == 10 and all(0 <= s < 2**63 for s in seeds)
    assert sample_seed(1, batch, "q", 0) != seeds[0]
    assert sample_seed(2, batch, "p", 0) != seeds[0]
    assert sample_seed(1, PromptBatch((), epoch=0, step_index=5), "p", 0) != seeds[0]


def test_memory_tags():
    assert memory_tags(None) == tuple(MemoryTag) == memory_tags([])
    assert memory_tags(["kv_cache"]) == (MemoryTag.KV_CACHE,)
    with pytest.raises(ConfigError, match="memory tag 'disk' is not valid"):
        memory_tags(["disk"])


def test_rollout_types_stay_compatible_and_carry_lengths():
    group = RolloutGroup("p", (Rollout("a"), Rollout("b", FinishReason.LENGTH, (1, 2), (-0.1, -0.2), 3)))
    assert group.responses == ["a", "b"] and group.response_lengths == [0, 2]
    assert group.rollouts[1].finish_reason.is_truncated and FinishReason.ABORT.is_aborted
    with pytest.raises(ValueError, match="2 token ids but 1 log-probs"):
        Rollout("x", FinishReason.STOP, (1, 2), (-0.1,))


def test_token_policy_rules():
    policy = TokenPolicy(vocab_size=8, eos_token_ids=(5,), suppressed_token_ids=(4, 6, 7), pad_token_id=4)
    assert policy.suppress_mask().tolist() == [False] * 4 + [True, False, True, True]
    assert policy.suppress_mask(stop_token_ids=[6]).tolist()[6] is False
    assert policy.stop_ids([2, 5]) == (2, 5)
    assert policy.logit_bias(stop_token_ids=[7]) == {"4": SUPPRESSED_LOGIT_BIAS, "6": SUPPRESSED_LOGIT_BIAS}
    with pytest.raises(ValueError, match="no EOS token id"):
        TokenPolicy(vocab_size=8, eos_token_ids=(), suppressed_token_ids=(), pad_token_id=0)
    with pytest.raises(ValueError, match=r"token ids \[9\] lie outside"):
        TokenPolicy(vocab_size=8, eos_token_ids=(9,), suppressed_token_ids=(), pad_token_id=0)
