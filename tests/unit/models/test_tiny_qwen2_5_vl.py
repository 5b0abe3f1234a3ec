import json

import pytest
import torch
from safetensors import safe_open
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig, create_model_folder


def test_folder_loads_like_a_hub_checkpoint(tiny_model_dir, demo_dir):
    spec = json.loads((demo_dir / "dataset_info.json").read_text())["processor"]
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir)
    config = model.config
    assert config.text_config.vocab_size % 64 == 0 and config.text_config.vocab_size >= spec["vocab_size"]
    assert (config.image_token_id, config.vision_start_token_id) == (
        spec["image_token_id"],
        spec["vision_start_token_id"],
    )
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 1.5e6
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tokenizer.convert_tokens_to_ids("<|image_pad|>") == spec["image_token_id"]
    with safe_open(str(tiny_model_dir / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    # The original Qwen2.5-VL checkpoint layout, as on the hub and as SGLang loads it.
    assert {"model.embed_tokens.weight", "lm_head.weight", "visual.patch_embed.proj.weight"} <= names
    assert "model.layers.1.self_attn.q_proj.bias" in names


def test_seeded_and_atomic(demo_dir, tmp_path):
    a = create_model_folder(tmp_path / "a", demo_dir / "processor", seed=3)
    b = create_model_folder(tmp_path / "b", demo_dir / "processor", seed=3)
    with safe_open(str(a / "model.safetensors"), "pt") as fa, safe_open(str(b / "model.safetensors"), "pt") as fb:
        assert all(torch.equal(fa.get_tensor(k), fb.get_tensor(k)) for k in fa.keys())  # noqa: SIM118 (safe_open is not a dict)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no staging folders left


def test_sizes_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="mrope_section"):
        TinyQwen2_5_VLConfig(mrope_section=(2, 2, 2))
    with pytest.raises(ConfigError, match="demo-data"):
        create_model_folder(tmp_path / "m", tmp_path / "no-processor")


def test_rope_theta_is_the_configured_one(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())["text_config"]
    assert config["rope_parameters"]["rope_theta"] == TinyQwen2_5_VLConfig().rope_theta
    assert config["rope_parameters"]["mrope_section"] == list(TinyQwen2_5_VLConfig().mrope_section)
