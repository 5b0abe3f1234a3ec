"""Rollout fixtures: a batch of demo prompts (with images), the tiny model served by the local engine, a
second set of weights to sync to, a tiny text-only model, and the independent log-prob reference."""

import os
import sys
from pathlib import Path

import pytest
import torch

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.models.tiny_qwen2_5_vl import create_model_folder
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.rollout.serve.server import RolloutServer


@pytest.fixture(scope="session")
def processors(demo_dir):
    return load_processors(demo_dir / "processor")


@pytest.fixture(scope="session")
def prompt_batch(demo_dir, processors):
    """Four demo prompts, one 112 px image each (16 image tokens, ~80 tokens per prompt)."""
    config = apply_overrides(
        PromptPipeline.Config(),
        [f"source.path={demo_dir / 'train.parquet'}", "sampler.batch_size=4", "num_workers=0"],
    )
    return config.build(processors=processors).next_batch()


@pytest.fixture(scope="session")
def engine(tiny_model_dir):
    """A local engine that tests only read from (tests that change weights build their own)."""
    return LocalEngine.Config(model_path=str(tiny_model_dir), device="cpu").build()


@pytest.fixture
def fresh_engine(tiny_model_dir):
    return LocalEngine.Config(model_path=str(tiny_model_dir), device="cpu").build()


@pytest.fixture(scope="session")
def other_model_dir(demo_dir, tmp_path_factory):
    """The same architecture with other weights (seed 1): the 'trainer's' weights of a sync."""
    return create_model_folder(tmp_path_factory.mktemp("model") / "tiny-seed1", demo_dir / "processor", seed=1)


@pytest.fixture(scope="session")
def text_model_dir(demo_dir, tmp_path_factory):
    """A tiny text-only Qwen2 causal LM with the demo tokenizer (a non-VL model for the local engine)."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(demo_dir / "processor")
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, tie_word_embeddings=True,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("model") / "tiny-qwen2"
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def server(tiny_model_dir):
    """``megatron-mmupt serve`` in a thread of this process, on a free port, with its own engine."""
    config = RolloutServer.Config(engine=LocalEngine.Config(model_path=str(tiny_model_dir), device="cpu"), port=0)
    running = config.build().start()
    yield running
    running.close()


@pytest.fixture(scope="session")
def reference_logprobs():
    """The independent log-prob reference (a function; see ``_reference_logprobs``)."""
    return _reference_logprobs


def _reference_logprobs(model, prompt, response_ids, temperature, logit_bias=None):
    """``log_softmax(logits / T)`` of each response token from ONE plain forward of prompt + response.

    Independent of the engine: no cache, no batching, no padding; 3-D positions from transformers'
    own ``get_rope_index`` for multimodal models (not from the data stage's rope ids).
    """
    ids = torch.cat([prompt.input_ids, torch.tensor(response_ids, dtype=torch.long)])[None]  # (1, S + T)
    kwargs = {"input_ids": ids}
    if getattr(model.config, "vision_config", None) is not None:
        mm_types = (ids == model.config.image_token_id).int()
        positions, _ = model.model.get_rope_index(
            ids, image_grid_thw=prompt.image_grid_thw, mm_token_type_ids=mm_types, attention_mask=torch.ones_like(ids)
        )
        kwargs |= {
            "position_ids": positions,
            "pixel_values": prompt.pixel_values,
            "image_grid_thw": prompt.image_grid_thw,
        }
    with torch.no_grad():
        logits = model(**kwargs).logits[0, prompt.num_tokens - 1 : -1].float()  # (T, V)
    if logit_bias is not None:
        logits = logits + logit_bias
    scaled = logits / temperature if temperature >= 1e-6 else logits
    return torch.log_softmax(scaled, dim=-1).gather(1, torch.tensor(response_ids)[:, None]).squeeze(1)


SGLANG_SITE = Path(sys.prefix) / "sglang-site"
"""SGLang 0.5.23 without its dependencies (``make``: ``requirements-sglang.txt``), for subprocesses only: importing
it patches transformers process-wide, so the test process never does."""


@pytest.fixture(scope="session")
def sglang_env() -> dict[str, str]:
    """The environment of a process that runs SGLang's own code (``tests/sglang_real``); fails if it is absent."""
    if not (SGLANG_SITE / "sglang" / "__init__.py").is_file():
        pytest.fail(f"SGLang 0.5.23 is not installed in {SGLANG_SITE}: run `make test` (it installs it)")
    stubs = Path(__file__).resolve().parents[2] / "sglang_real"
    path = os.pathsep.join(p for p in (str(SGLANG_SITE), str(stubs), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")
