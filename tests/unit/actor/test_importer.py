"""The bridge's import path on a stand-in module whose parameter names are Megatron's (no process group)."""

import pytest
import torch
from transformers import AutoConfig

from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.bridge.importer import load_hf_weights
from megatron_mmupt.bridge.name_maps import NAME_MAPS
from megatron_mmupt.bridge.param_map import ParamMap
from megatron_mmupt.bridge.transforms import Layout
from megatron_mmupt.utils.errors import InputError

QWEN2_5_VL = NAME_MAPS["Qwen2_5_VLForConditionalGeneration"]


def module_with(shapes: dict[str, tuple[int, ...]]) -> torch.nn.Module:
    root = torch.nn.Module()
    for name, shape in shapes.items():
        *path, leaf = name.split(".")
        node = root
        for part in path:
            if not hasattr(node, part):
                node.add_module(part, torch.nn.Module())
            node = getattr(node, part)
        node.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape)))
    return root


@pytest.mark.parametrize(
    ("spec", "name", "offset", "hf", "layout"),
    [
        ("local", "language_model.decoder.layers.1.input_layernorm.weight", 0,
         ("model.layers.1.input_layernorm.weight",), Layout.REPLICATED),
        ("te", "language_model.decoder.layers.0.self_attention.linear_qkv.layer_norm_weight", 3,
         ("model.layers.3.input_layernorm.weight",), Layout.REPLICATED),
        ("local", "language_model.decoder.layers.0.mlp.linear_fc1.weight", 2,
         ("model.layers.2.mlp.gate_proj.weight", "model.layers.2.mlp.up_proj.weight"), Layout.GATE_UP),
        ("local", "language_model.embedding.word_embeddings.weight", 5, ("model.embed_tokens.weight",), Layout.VOCAB),
        ("te", "visual.blocks.0.attn.qkv.weight", 0, ("visual.blocks.0.attn.qkv.weight",), Layout.REPLICATED),
    ],
)  # fmt: skip
def test_resolve(spec, name, offset, hf, layout):
    resolved = ParamMap(spec, QWEN2_5_VL).resolve(name, offset)
    assert (resolved.hf, resolved.layout) == (hf, layout)


def test_unmapped_names_are_named():
    with pytest.raises(KeyError, match="no bridge rule for Megatron parameter 'language_model.decoder.layers.0.x'"):
        ParamMap("local", QWEN2_5_VL).resolve("language_model.decoder.layers.0.x")
    with pytest.raises(ValueError, match="unknown layer spec"):
        ParamMap("fast", QWEN2_5_VL)


def test_qkv_shard_of_tp_rank_matches_hand_layout(tiny_model_dir):
    # Rank 1 of 2 holds query group 1: q heads 2-3, then k head 1, then v head 1 (head_dim 32).
    config = AutoConfig.from_pretrained(tiny_model_dir)
    checkpoint = HFCheckpoint(tiny_model_dir)
    name = "language_model.decoder.layers.0.self_attention.linear_qkv.weight"
    model = module_with({name: (128, 128)})
    load_hf_weights(model, checkpoint, config, spec="local", tp_rank=1, tp_size=2, layer_offset=0)
    q, k, v = (checkpoint.get(f"model.layers.0.self_attn.{p}_proj.weight") for p in "qkv")
    expected = torch.cat([q[64:128], k[32:64], v[32:64]])
    assert torch.equal(model.get_parameter(name), expected)


def test_wrong_shapes_fail_before_anything_is_written(tiny_model_dir):
    config = AutoConfig.from_pretrained(tiny_model_dir)
    good = "language_model.decoder.final_layernorm.weight"
    bad = "language_model.decoder.layers.0.mlp.linear_fc2.weight"
    model = module_with({good: (128,), bad: (128, 100)})
    with pytest.raises(ValueError, match=r"linear_fc2.weight: the checkpoint's model.layers.0.mlp.down_proj.weight"):
        load_hf_weights(model, HFCheckpoint(tiny_model_dir), config, spec="local", tp_rank=0, tp_size=1, layer_offset=0)
    assert torch.count_nonzero(model.get_parameter(good)) == 0  # untouched: the update is all or nothing


def test_missing_tensors_and_folders(tiny_model_dir, tmp_path):
    config = AutoConfig.from_pretrained(tiny_model_dir)
    model = module_with({"language_model.decoder.layers.7.input_layernorm.weight": (128,)})
    with pytest.raises(InputError, match="has no tensor 'model.layers.7.input_layernorm.weight'"):
        load_hf_weights(model, HFCheckpoint(tiny_model_dir), config, spec="local", tp_rank=0, tp_size=1, layer_offset=0)
    with pytest.raises(InputError, match="neither model.safetensors nor model.safetensors.index.json"):
        HFCheckpoint(tmp_path)
