"""``exporter.stage_plan`` on stand-in stages whose parameter names are Megatron's (no process group).

The plan is what ranks exchange before any tensor moves: HF names with global layer numbers, the full HF
shapes a receiving stage allocates, the tied output layer left out, and a sort key that puts every stage's
items in one layout-independent order.
"""

from types import SimpleNamespace

import torch

from megatron_mmupt.bridge.exporter import layer_offset, stage_plan
from megatron_mmupt.bridge.transforms import Layout

# The tiny model at TP=2: hidden 128, 4 heads in 2 KV groups of head_dim 32, ffn 384, vocabulary 500 padded to 512.
HF_CONFIG = SimpleNamespace(
    architectures=["Qwen2_5_VLForConditionalGeneration"],
    text_config=SimpleNamespace(num_attention_heads=4, num_key_value_heads=2, hidden_size=128, vocab_size=500),
)
TP = 2
LAYER = {  # local shapes at TP=2
    "input_layernorm.weight": (128,),
    "self_attention.linear_proj.weight": (128, 64),
    "self_attention.linear_qkv.weight": (128, 128),
    "self_attention.linear_qkv.bias": (128,),
    "pre_mlp_layernorm.weight": (128,),
    "mlp.linear_fc1.weight": (384, 128),
    "mlp.linear_fc2.weight": (128, 192),
}


def parameters(module: torch.nn.Module, shapes: dict[str, tuple[int, ...]]) -> torch.nn.Module:
    for name, shape in shapes.items():
        *path, leaf = name.split(".")
        node = module
        for part in path:
            if not hasattr(node, part):
                node.add_module(part, torch.nn.Module())
            node = getattr(node, part)
        node.register_parameter(leaf, torch.nn.Parameter(torch.randn(shape)))
    return module


def stage(first_layer: int, num_layers: int, *, first: bool, last: bool, tied: bool = False) -> torch.nn.Module:
    """A stand-in pipeline stage: ``language_model.decoder.layers`` with Megatron's global ``layer_number``."""
    root = torch.nn.Module()
    root.share_embeddings_and_output_weights = tied
    layers = torch.nn.ModuleList()
    for i in range(num_layers):
        layers.append(parameters(torch.nn.Module(), LAYER))
        layers[i].layer_number = first_layer + i + 1
    root.add_module("language_model", torch.nn.Module())
    root.language_model.add_module("decoder", torch.nn.Module())
    root.language_model.decoder.add_module("layers", layers)
    shapes = {}
    if first:
        shapes |= {"language_model.embedding.word_embeddings.weight": (256, 128), "visual.merger.mlp.0.weight": (9, 4)}
    if last:
        shapes |= {"language_model.decoder.final_layernorm.weight": (128,)}
        if not tied or not first:  # Megatron keeps a copy of the tied embedding on the last stage when PP > 1
            shapes["language_model.output_layer.weight"] = (256, 128)
    return parameters(root, shapes)


def test_hf_names_and_full_shapes_of_a_later_stage():
    model = stage(first_layer=3, num_layers=1, first=False, last=True)
    assert layer_offset(model) == 3
    plan = {item.hf: item for item in stage_plan(model, HF_CONFIG, spec="local", stage=1, tp_size=TP)}
    qkv = plan["model.layers.3.self_attn.q_proj.weight", "model.layers.3.self_attn.k_proj.weight",
               "model.layers.3.self_attn.v_proj.weight"]  # fmt: skip
    assert (qkv.layout, qkv.hf_shapes, qkv.local_shape) == (Layout.QKV, ((128, 128), (64, 128), (64, 128)), (128, 128))
    gate_up = plan["model.layers.3.mlp.gate_proj.weight", "model.layers.3.mlp.up_proj.weight"]
    assert gate_up.hf_shapes == ((384, 128), (384, 128))
    assert plan["model.layers.3.self_attn.o_proj.weight",].hf_shapes == ((128, 128),)
    assert plan["lm_head.weight",].hf_shapes == ((500, 128),)  # padding cut to the HF vocabulary
    assert plan["model.norm.weight",].hf_nbytes == 128 * 4
    assert {item.stage for item in plan.values()} == {1}


def test_tied_output_layer_copy_is_left_out():
    last = stage(first_layer=1, num_layers=1, first=False, last=True, tied=True)
    assert all(
        "lm_head.weight" not in item.hf for item in stage_plan(last, HF_CONFIG, spec="local", stage=1, tp_size=TP)
    )
    untied = stage(first_layer=1, num_layers=1, first=False, last=True, tied=False)
    assert any("lm_head.weight" in item.hf for item in stage_plan(untied, HF_CONFIG, spec="local", stage=1, tp_size=TP))


def test_order_is_the_same_for_one_stage_and_for_two():
    def order(stages):
        plan = [
            item
            for s, model in enumerate(stages)
            for item in stage_plan(model, HF_CONFIG, spec="local", stage=s, tp_size=TP)
        ]
        return [name for item in sorted(plan, key=lambda item: item.key) for name in item.hf]  # fmt: skip

    single = order([stage(0, 2, first=True, last=True)])
    split = order([stage(0, 1, first=True, last=False), stage(1, 1, first=False, last=True)])
    assert single == split
    assert single[:2] == ["visual.merger.mlp.0.weight", "model.embed_tokens.weight"]
    assert single[-2:] == ["model.norm.weight", "lm_head.weight"]
    assert single.index("model.layers.1.input_layernorm.weight") > single.index("model.layers.0.mlp.down_proj.weight")
