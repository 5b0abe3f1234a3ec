"""The sampler on hand-made logits: what is drawn, how often, under which log-prob, from which seed."""

import math

import pytest
import torch

from megatron_mmupt.rollout.engine import EngineError, SamplingConfig
from megatron_mmupt.rollout.local.token_sampler import TokenSampler

PROBS = torch.tensor([0.5, 0.3, 0.15, 0.05])
LOGITS = PROBS.log()


def draw(sampling, logits, num_rows, suppress=None, seeds=None, bias=None):
    suppress = torch.zeros(logits.shape[-1], dtype=torch.bool) if suppress is None else suppress
    sampler = TokenSampler(sampling, suppress, seeds or range(num_rows), bias)
    return sampler(logits.expand(num_rows, -1), torch.arange(num_rows))


def frequencies(tokens, size=4):
    return torch.bincount(tokens, minlength=size).float() / len(tokens)


def test_draws_follow_the_tempered_distribution():
    tokens, _ = draw(SamplingConfig(temperature=1.0, top_p=1.0), LOGITS, 20000)
    assert torch.allclose(frequencies(tokens), PROBS, atol=0.015)
    tokens, _ = draw(SamplingConfig(temperature=0.5, top_p=1.0), LOGITS, 20000)
    assert torch.allclose(frequencies(tokens), torch.softmax(LOGITS / 0.5, -1), atol=0.015)


def test_top_p_and_top_k_cut_what_is_drawn_but_not_the_logprob():
    sampling = SamplingConfig(temperature=1.0, top_p=0.6)  # mass before token 1 is 0.5 <= 0.6: keep {0, 1}
    tokens, logprobs = draw(sampling, LOGITS, 20000)
    assert torch.allclose(frequencies(tokens), torch.tensor([0.625, 0.375, 0.0, 0.0]), atol=0.015)
    torch.testing.assert_close(logprobs, PROBS.log()[tokens])  # not log(0.625): the full distribution
    tokens, _ = draw(SamplingConfig(temperature=1.0, top_p=1.0, top_k=3), LOGITS, 20000)
    assert torch.allclose(frequencies(tokens), torch.tensor([0.5, 0.3, 0.15, 0.0]) / 0.95, atol=0.015)


def test_suppressed_tokens_are_never_drawn_and_do_not_renormalize_the_logprob():
    suppress = torch.tensor([True, False, False, False])
    tokens, logprobs = draw(SamplingConfig(temperature=1.0, top_p=1.0), LOGITS, 5000, suppress=suppress)
    assert 0 not in tokens.tolist()
    assert torch.allclose(frequencies(tokens), torch.tensor([0.0, 0.6, 0.3, 0.1]), atol=0.02)
    torch.testing.assert_close(logprobs, PROBS.log()[tokens])


def test_greedy_takes_the_unsuppressed_argmax_and_reports_temperature_one():
    suppress = torch.tensor([True, False, False, False])
    tokens, logprobs = draw(SamplingConfig(temperature=0.0), LOGITS, 3, suppress=suppress)
    assert tokens.tolist() == [1, 1, 1]
    torch.testing.assert_close(logprobs, torch.full((3,), math.log(0.3)))


def test_logit_bias_enters_before_sampling_and_logprob_as_in_sglang():
    bias = torch.tensor([-1e9, 0.0, 0.0, 0.0])
    tokens, logprobs = draw(SamplingConfig(temperature=1.0, top_p=1.0), LOGITS, 2000, bias=bias)
    assert 0 not in tokens.tolist()
    torch.testing.assert_close(logprobs, (PROBS / 0.5).log()[tokens])  # renormalized over the other tokens


def test_each_row_depends_only_on_its_seed():
    sampling = SamplingConfig(temperature=1.0, top_p=1.0)
    logits = torch.randn(6, 50)
    seeds = [11, 12, 13, 14, 15, 16]
    together = TokenSampler(sampling, torch.zeros(50, dtype=torch.bool), seeds)
    steps = [together(logits, torch.arange(6))[0] for _ in range(5)]
    alone = TokenSampler(sampling, torch.zeros(50, dtype=torch.bool), [seeds[4]])
    assert [alone(logits[4:5], torch.tensor([0]))[0].item() for _ in range(5)] == [s[4].item() for s in steps]
    rows = {tuple(s[r].item() for s in steps) for r in range(6)}
    assert len(rows) > 1


def test_non_finite_logits_are_an_error():
    logits = torch.tensor([[0.0, float("nan"), 0.0, 0.0]])
    with pytest.raises(EngineError, match=r"non-finite logits .* rows \[0\]"):
        draw(SamplingConfig(temperature=1.0, top_p=1.0), logits, 1)
