"""The model families: found by architecture (or model type), each with a name map, a tiny model and a config."""

import json

import pytest
import torch
from safetensors import safe_open

from megatron_mmupt.actor.megatron.config_bridge import mrope_section, transformer_config
from megatron_mmupt.actor.megatron.model_provider import load_hf_config
from megatron_mmupt.bridge.name_maps import NAME_MAPS, name_map_for
from megatron_mmupt.bridge.param_map import ParamMap
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.models.families import FAMILIES, family_of
from megatron_mmupt.models.tiny_families import CONFIG_BUILDERS, create_family_folder
from megatron_mmupt.parallel.config import ParallelConfig


@pytest.fixture(scope="module")
def folders(demo_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {arch: create_family_folder(arch, root / arch, demo_dir / "processor") for arch in FAMILIES}


def test_every_family_has_a_name_map_and_a_tiny_model():
    assert set(NAME_MAPS) == set(FAMILIES) == set(CONFIG_BUILDERS)


def test_family_lookup():
    assert family_of({"architectures": ["Qwen2VLForConditionalGeneration"]}).vision_tower.endswith(
        "Qwen2VisionTransformerPretrainedModel"
    )
    assert not family_of({"architectures": ["Qwen2ForCausalLM"]}).is_multimodal
    assert family_of({"model_type": "qwen2_5_vl"}).architecture == "Qwen2_5_VLForConditionalGeneration"
    with pytest.raises(ConfigError, match="'LlamaForCausalLM' is not supported; supported: Qwen2_5_VL"):
        family_of({"architectures": ["LlamaForCausalLM"]})
    with pytest.raises(ConfigError, match="must name exactly one of"):
        family_of({"architectures": ["A", "B"]})
    with pytest.raises(ValueError, match="text-only family"):
        FAMILIES["Qwen2ForCausalLM"].vision_tower_class()


def test_folders_load_in_transformers_and_hold_hub_names(folders):
    for arch, folder in folders.items():
        config = load_hf_config(folder)
        assert family_of(config).architecture == arch
        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            names = set(f.keys())
        assert {"model.embed_tokens.weight", "model.layers.1.self_attn.k_proj.bias"} <= names
        assert any(n.startswith("visual.") for n in names) == FAMILIES[arch].is_multimodal
        # every checkpoint tensor has a rule of the family's map (vision names under the prefix)
        name_map = name_map_for(config)
        assert (name_map.vision_prefix is not None) == FAMILIES[arch].is_multimodal


def test_text_only_folder_has_no_image_processor(folders):
    folder = folders["Qwen2ForCausalLM"]
    assert not (folder / "preprocessor_config.json").exists()
    processors = load_processors(folder)
    assert not processors.has_vision and processors.image_token_id is None
    assert load_processors(folders["Qwen2VLForConditionalGeneration"]).has_vision


def test_text_only_map_has_no_vision_rule():
    param_map = ParamMap("local", NAME_MAPS["Qwen2ForCausalLM"])
    assert param_map.resolve("language_model.decoder.layers.3.self_attention.linear_qkv.bias").hf == tuple(
        f"model.layers.3.self_attn.{p}_proj.bias" for p in "qkv"
    )
    with pytest.raises(KeyError, match="no bridge rule"):
        param_map.resolve("visual.patch_embed.proj.weight")
    vision = ParamMap("te", NAME_MAPS["Qwen2VLForConditionalGeneration"]).resolve("visual.merger.mlp.0.weight")
    assert vision.is_vision and vision.hf == ("visual.merger.mlp.0.weight",)


def test_rope_of_each_family(folders):
    head_dim = 128 // 4
    for arch, folder in folders.items():
        config = load_hf_config(folder)
        tc = transformer_config(config, ParallelConfig(), params_dtype=torch.float32)
        expected = [head_dim // 2, 0, 0] if arch == "Qwen2ForCausalLM" else [4, 6, 6]
        assert tc.mrope_section == expected, arch
    vl = json.loads((folders["Qwen2VLForConditionalGeneration"] / "config.json").read_text())
    assert vl["architectures"] == ["Qwen2VLForConditionalGeneration"]


def test_a_bad_mrope_section_is_refused(folders):
    config = load_hf_config(folders["Qwen2_5_VLForConditionalGeneration"])
    config.text_config.rope_parameters["mrope_section"] = [2, 2, 2]
    with pytest.raises(ConfigError, match="mrope_section summing to head_dim / 2 = 16"):
        mrope_section(family_of(config), config.text_config, 32)
