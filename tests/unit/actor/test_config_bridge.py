import pytest
import torch
from transformers import AutoConfig

from megatron_mmupt.actor.megatron.config_bridge import rope_settings, text_config, transformer_config
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.parallel.config import ParallelConfig


@pytest.fixture(scope="module")
def hf_config(tiny_model_dir):
    return AutoConfig.from_pretrained(tiny_model_dir)


def test_fields_come_from_the_hf_config(hf_config):
    text = text_config(hf_config)
    config = transformer_config(hf_config, ParallelConfig(tensor_degree=2), params_dtype=torch.float32)
    assert (config.num_layers, config.hidden_size, config.ffn_hidden_size) == (2, 128, 384)
    assert (config.num_attention_heads, config.num_query_groups, config.kv_channels) == (4, 2, 32)
    assert config.mrope_section == [4, 6, 6] and config.layernorm_epsilon == text.rms_norm_eps
    assert config.add_qkv_bias and not config.add_bias_linear and config.gated_linear_unit
    assert config.tensor_model_parallel_size == 2 and config.attention_dropout == 0.0
    assert rope_settings(text) == (10000.0, [4, 6, 6])


def test_unsupported_models_fail_naming_the_field(hf_config):
    text = text_config(hf_config)
    text.hidden_act = "gelu"
    try:
        with pytest.raises(ConfigError, match="hidden_act='gelu' is not supported"):
            transformer_config(hf_config, ParallelConfig(), params_dtype=torch.float32)
    finally:
        text.hidden_act = "silu"


@pytest.mark.parametrize(
    ("parallel", "message"),
    [
        (ParallelConfig(tensor_degree=8), r"must divide the 4 attention heads.*valid degrees: 1, 2, 4"),
        (ParallelConfig(tensor_degree=3), "must divide the 4 attention heads"),
        (ParallelConfig(pipeline_degree=3), "must divide the 2 layers"),
    ],
)
def test_layouts_the_model_cannot_split(hf_config, parallel, message):
    with pytest.raises(ConfigError, match=message):
        transformer_config(hf_config, parallel, params_dtype=torch.float32)


def test_vocab_padding_rule():
    assert ParallelConfig().padded_vocab_size(478) == 512
    assert ParallelConfig(tensor_degree=2).padded_vocab_size(512) == 512
    assert ParallelConfig(tensor_degree=2, make_vocab_size_divisible_by=96).padded_vocab_size(478) == 576
