"""Model sizes from config.json files and presets; parameter counts against the models transformers builds."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
)

from megatron_mmupt.planner.errors import PlanError
from megatron_mmupt.planner.model_shape import PRESETS, from_hf_config, resolve_model_shape
from megatron_mmupt.planner.params import language_params, model_params, vision_params

ROOT = Path(__file__).resolve().parents[3]
DEMO_MODEL = ROOT / "examples" / "demo_base_model"


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_demo_model_count_equals_transformers():
    config = json.loads((DEMO_MODEL / "config.json").read_text())
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**config))
    shape = from_hf_config(config, name="demo", source="test")
    assert model_params(shape) == count(model)
    assert vision_params(shape.vision) == count(model.model.visual)


def test_qwen2_vl_count_equals_transformers():
    # Qwen2-VL: vision width in embed_dim, plain MLP (fc1, fc2), LayerNorms with bias; tied embeddings.
    hf = Qwen2VLConfig(
        text_config=dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, mlp_ratio=4, num_heads=2),
        tie_word_embeddings=True,
    )  # fmt: skip
    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(hf)
    assert model_params(from_hf_config(hf.to_dict(), name="q2", source="test")) == count(model)


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_preset_counts_equal_transformers(size):
    # The presets' shapes, built by transformers on the meta device (no memory): the counts must agree.
    preset = PRESETS[size]
    text, vision = preset.text, preset.vision
    hf = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=text.vocab_size, hidden_size=text.hidden_size,
                         intermediate_size=text.intermediate_size, num_hidden_layers=text.num_layers,
                         num_attention_heads=text.num_attention_heads, num_key_value_heads=text.num_key_value_heads,
                         tie_word_embeddings=text.tie_word_embeddings),
        vision_config=dict(depth=vision.depth, hidden_size=vision.hidden_size, num_heads=vision.num_heads,
                           intermediate_size=vision.intermediate_size, out_hidden_size=vision.out_hidden_size),
        tie_word_embeddings=text.tie_word_embeddings,
    )  # fmt: skip
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(hf)
    assert model_params(preset) == count(model)


def test_published_sizes():
    # Qwen2.5-VL-7B-Instruct: 8.29B parameters; 72B: 73.4B.
    assert model_params(PRESETS["7b"]) == 8_292_166_656
    assert language_params(PRESETS["72b"].text) == 72_706_203_648
    assert round(model_params(PRESETS["72b"]) / 1e9, 1) == 73.4


def test_presets_by_name_and_folders_first(tmp_path):
    assert resolve_model_shape("Qwen/Qwen2.5-VL-72B-Instruct") is PRESETS["72b"]
    assert resolve_model_shape("/models/qwen2.5-vl-7b-instruct") is PRESETS["7b"]
    folder = tmp_path / "Qwen2.5-VL-7B-Instruct"  # named like a preset, but its config.json wins
    folder.mkdir()
    shutil.copy(DEMO_MODEL / "config.json", folder / "config.json")
    shape = resolve_model_shape(str(folder))
    assert shape.text.num_layers == 2 and shape.source == str(folder / "config.json")


def test_unknown_model_names_the_presets():
    with pytest.raises(PlanError, match=r"cannot size actor.model='/models/llava'.*Qwen2.5-VL-3B, Qwen2.5-VL-7B"):
        resolve_model_shape("/models/llava")
