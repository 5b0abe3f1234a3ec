"""The local engine on the tiny Qwen2.5-VL (and a tiny text-only Qwen2): samples, seeds, log-probs, stops."""

import dataclasses
import threading
import time

import pytest
import torch

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.rollout.engine import EngineError, EnginePaused, MemoryTag, RolloutEngine, SamplingConfig
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.rollout.types import FinishReason
from megatron_mmupt.utils.errors import InputError

FAST = SamplingConfig(n=3, max_new_tokens=6, temperature=1.0, top_p=1.0)


def tokens(groups):
    return [[r.response_token_ids for r in g.rollouts] for g in groups]


def test_n_samples_per_prompt_in_batch_order(engine, prompt_batch):
    assert isinstance(engine, RolloutEngine)
    groups = engine.generate(prompt_batch, FAST)
    assert [g.prompt_id for g in groups] == [p.id for p in prompt_batch]
    assert [g.answer for g in groups] == [p.answer for p in prompt_batch]
    for group, prompt in zip(groups, prompt_batch, strict=True):
        assert group.num_samples == 3 and group.num_prompt_tokens == prompt.num_tokens
        for rollout in group.rollouts:
            assert rollout.finish_reason is FinishReason.LENGTH  # a random model rarely picks EOS in 6 tokens
            assert rollout.num_tokens == 6 == len(rollout.rollout_logprobs)
            assert rollout.weight_version == 0
            assert all(lp <= 0 for lp in rollout.rollout_logprobs)
    assert len({r.response_token_ids for g in groups for r in g.rollouts}) > 1


def test_reproducible_by_seed(engine, prompt_batch):
    first = tokens(engine.generate(prompt_batch, FAST))
    assert tokens(engine.generate(prompt_batch, FAST)) == first
    assert tokens(engine.generate(prompt_batch, dataclasses.replace(FAST, seed=7))) != first
    # The next batch of the stream draws other samples of the same prompts.
    later = PromptBatch(prompt_batch.prompts, epoch=0, step_index=1)
    assert tokens(engine.generate(later, FAST)) != first


def test_a_sample_does_not_depend_on_its_batch(engine, prompt_batch):
    together = tokens(engine.generate(prompt_batch, FAST))
    alone = tokens(engine.generate(PromptBatch(prompt_batch.prompts[2:3]), FAST))
    assert alone[0] == together[2]
    small_batches = dataclasses.replace(engine.config, max_batch_rows=4)  # chunks of one prompt (3 rows)
    chunked = LocalEngine(small_batches)
    assert tokens(chunked.generate(prompt_batch, FAST)) == together


@pytest.mark.parametrize("temperature", [0.7, 1.3, 0.0])
def test_logprobs_equal_an_independent_forward(engine, prompt_batch, reference_logprobs, temperature):
    sampling = SamplingConfig(n=2, max_new_tokens=8, temperature=temperature, top_p=0.9)
    for group, prompt in zip(engine.generate(prompt_batch, sampling), prompt_batch, strict=True):
        for rollout in group.rollouts:
            ref = reference_logprobs(engine.model, prompt, list(rollout.response_token_ids), temperature)
            torch.testing.assert_close(torch.tensor(rollout.rollout_logprobs), ref, atol=2e-5, rtol=0)


def bias_token(engine, token_id, value):
    """Give the model's head a bias that adds ``value`` to one token's logit."""
    head = engine.model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        biased.bias[token_id] = value
    engine.model.lm_head = biased


def test_special_tokens_are_never_sampled_even_when_the_model_prefers_them(fresh_engine, prompt_batch):
    policy = fresh_engine.token_policy
    image_pad = fresh_engine.model.config.image_token_id
    bias_token(fresh_engine, image_pad, 30.0)  # <|image_pad|> gets essentially all the probability mass
    first = fresh_engine.runner.prefill(prompt_batch.collate(policy.pad_token_id))[0]
    assert (first.argmax(-1) == image_pad).all()  # the model itself would emit it
    sampled = [t for g in fresh_engine.generate(prompt_batch, FAST) for r in g.rollouts for t in r.response_token_ids]
    assert image_pad not in sampled
    assert not set(sampled) & set(policy.suppressed_token_ids)
    assert max(sampled) < len(fresh_engine.tokenizer)  # padded rows (480..511) are suppressed too
    greedy = fresh_engine.generate(prompt_batch, dataclasses.replace(FAST, temperature=0.0))
    assert image_pad not in {t for g in greedy for r in g.rollouts for t in r.response_token_ids}


def test_suppressed_ids_are_the_added_tokens_and_padded_rows_but_not_eos(engine, processors):
    policy = engine.token_policy
    added = {int(i) for i in processors.tokenizer.added_tokens_decoder}
    assert policy.eos_token_ids == (processors.tokenizer.eos_token_id,)
    assert set(policy.suppressed_token_ids) == (added | set(range(len(processors.tokenizer), 512))) - {460}
    assert policy.suppress_mask(stop_token_ids=[459])[459].item() is False  # a stop id is always samplable


def test_max_new_tokens_truncates_and_eos_stops(fresh_engine, prompt_batch):
    eos = fresh_engine.token_policy.eos_token_ids[0]
    bias_token(fresh_engine, eos, -30.0)  # EOS never drawn: every sample runs to its budget
    truncated = fresh_engine.generate(prompt_batch, dataclasses.replace(FAST, max_new_tokens=4))
    assert all(r.finish_reason is FinishReason.LENGTH and r.num_tokens == 4 for g in truncated for r in g.rollouts)
    bias_token(fresh_engine, eos, 30.0)  # EOS first
    stopped = fresh_engine.generate(prompt_batch, FAST)
    for rollout in (r for g in stopped for r in g.rollouts):
        assert rollout.finish_reason is FinishReason.STOP and rollout.response_token_ids == (eos,)
        assert rollout.response_text == ""


def test_stop_token_ids_end_a_sample_and_are_cut_from_the_text(engine, prompt_batch):
    greedy = dataclasses.replace(FAST, n=1, temperature=0.0, max_new_tokens=8)
    free = engine.generate(prompt_batch, greedy)[0].rollouts[0]
    assert free.finish_reason is FinishReason.LENGTH
    stop = free.response_token_ids[3]
    first = free.response_token_ids.index(stop)
    stopped = engine.generate(prompt_batch, dataclasses.replace(greedy, stop_token_ids=(stop,)))[0].rollouts[0]
    assert stopped.finish_reason is FinishReason.STOP
    assert stopped.response_token_ids == free.response_token_ids[: first + 1]
    assert stopped.response_text == engine.tokenizer.decode(free.response_token_ids[:first], skip_special_tokens=True)


def test_context_length_caps_and_refuses(tiny_model_dir, prompt_batch):
    longest = max(p.num_tokens for p in prompt_batch)
    capped = LocalEngine.Config(model_path=str(tiny_model_dir), context_length=longest + 2).build()
    groups = capped.generate(prompt_batch, dataclasses.replace(FAST, max_new_tokens=50))
    for group, prompt in zip(groups, prompt_batch, strict=True):
        assert all(r.num_tokens == longest + 2 - prompt.num_tokens for r in group.rollouts)
        assert all(r.finish_reason is FinishReason.LENGTH for r in group.rollouts)
    short = LocalEngine.Config(model_path=str(tiny_model_dir), context_length=longest).build()
    too_long = max(prompt_batch, key=lambda p: p.num_tokens).id
    with pytest.raises(InputError, match=f"prompt '{too_long}' has {longest} tokens .* more than the engine's context"):
        short.generate(prompt_batch, FAST)


def test_empty_and_duplicate_batches_are_clear_errors(engine, prompt_batch):
    with pytest.raises(InputError, match="empty PromptBatch"):
        engine.generate(PromptBatch(()), FAST)
    with pytest.raises(InputError, match="appears twice"):
        engine.generate(PromptBatch(prompt_batch.prompts[:1] * 2), FAST)


def test_pause_aborts_a_running_batch_and_refuses_new_ones(fresh_engine, prompt_batch):
    long = dataclasses.replace(FAST, max_new_tokens=1500)
    result = {}
    worker = threading.Thread(target=lambda: result.update(groups=fresh_engine.generate(prompt_batch, long)))
    worker.start()
    deadline = time.monotonic() + 30
    while not fresh_engine.busy and time.monotonic() < deadline:  # wait until the batch is decoding
        time.sleep(0.001)
    fresh_engine.pause_generation()
    worker.join(timeout=60)
    assert not worker.is_alive()
    rollouts = [r for g in result["groups"] for r in g.rollouts]
    assert all(r.finish_reason is FinishReason.ABORT and 0 < r.num_tokens < 1500 for r in rollouts)
    with pytest.raises(EnginePaused, match="continue_generation"):
        fresh_engine.generate(prompt_batch, FAST)
    fresh_engine.continue_generation()
    assert fresh_engine.generate(prompt_batch, FAST)[0].rollouts[0].finish_reason is FinishReason.LENGTH


def test_release_refuses_generation_until_resumed(fresh_engine, prompt_batch):
    fresh_engine.release_memory_occupation()
    assert fresh_engine.health().released == tuple(MemoryTag)
    with pytest.raises(EngineError, match="resume_memory_occupation"):
        fresh_engine.generate(prompt_batch, FAST)
    fresh_engine.resume_memory_occupation([MemoryTag.WEIGHTS])
    assert fresh_engine.generate(prompt_batch, FAST)
    with pytest.raises(ConfigError, match="choose from: weights, kv_cache, cuda_graph"):
        fresh_engine.release_memory_occupation(["gpu"])
    assert fresh_engine.health().healthy


def test_text_only_model(text_model_dir, prompt_batch, reference_logprobs):
    engine = LocalEngine.Config(model_path=str(text_model_dir)).build()
    tokenizer = engine.tokenizer
    prompt = prompt_batch.prompts[0]
    ids = torch.tensor(tokenizer("How many red shapes are there?")["input_ids"])
    text_prompt = dataclasses.replace(
        prompt, input_ids=ids, position_ids=torch.arange(len(ids)).expand(3, -1), rope_delta=0,
        pixel_values=torch.zeros(0, 0), image_grid_thw=torch.zeros(0, 3, dtype=torch.long),
    )  # fmt: skip
    groups = engine.generate(PromptBatch((text_prompt,)), dataclasses.replace(FAST, temperature=0.8))
    for rollout in groups[0].rollouts:
        ref = reference_logprobs(engine.model, text_prompt, list(rollout.response_token_ids), 0.8)
        torch.testing.assert_close(torch.tensor(rollout.rollout_logprobs), ref, atol=2e-5, rtol=0)
        assert not set(rollout.response_token_ids) & set(engine.token_policy.suppressed_token_ids)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="device='gpu' is not valid"):
        LocalEngine.Config(model_path="x", device="gpu")
    with pytest.raises(ConfigError, match="model_path is empty"):
        LocalEngine.Config().build()
    with pytest.raises(ConfigError, match="top_p=1.5 must lie in"):
        SamplingConfig(top_p=1.5)
    with pytest.raises(ConfigError, match="top_k=0 must be -1"):
        SamplingConfig(top_k=0)
