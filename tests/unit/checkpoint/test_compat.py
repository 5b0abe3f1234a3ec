from pathlib import Path

import pytest
from transformers import Qwen2_5_VLConfig, Qwen2Config

from megatron_mmupt.checkpoint.compat import check_same_model, model_differences
from megatron_mmupt.utils.errors import InputError


def vl_config(**text):
    sizes = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    return Qwen2_5_VLConfig(text_config={**sizes, "num_key_value_heads": 2, **text}, vision_config={"depth": 2})


def test_the_same_sizes_match_whatever_else_differs():
    assert model_differences(vl_config(), vl_config(max_position_embeddings=99, rms_norm_eps=1e-3)) == []


def test_weight_defining_fields_are_named_with_both_values():
    assert model_differences(vl_config(), vl_config(vocab_size=640, hidden_size=32)) == [
        "vocab_size: 512 -> 640",
        "hidden_size: 64 -> 32",
    ]
    text_only = Qwen2Config(vocab_size=512, hidden_size=64, num_hidden_layers=2)
    assert "model_type: qwen2_5_vl -> qwen2" in model_differences(vl_config(), text_only)
    assert "vision tower: present -> none" in model_differences(vl_config(), text_only)


def test_the_error_names_the_checkpoint_the_fields_and_the_fix():
    with pytest.raises(InputError) as error:
        check_same_model(
            Path("/runs/a/checkpoints/step_000004"), vl_config(), vl_config(intermediate_size=256),
            saved_spec="te", current_spec="local", model="/models/b",
        )  # fmt: skip
    message = str(error.value)
    assert message.startswith("checkpoint /runs/a/checkpoints/step_000004 was saved from a different model")
    assert "actor.model=/models/b" in message and "intermediate_size: 128 -> 256" in message
    assert "layer spec: te -> local (set actor.spec=te)" in message and "start afresh" in message
    check_same_model(Path("x"), vl_config(), vl_config(), saved_spec="local", current_spec="local", model="m")
