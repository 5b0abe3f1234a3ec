"""Which TP / PP degrees a model splits into; KV heads shared by several TP ranks are allowed."""

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.models.parallel_layout import check_hf_text_layout, check_parallel_layout, valid_tensor_degrees
from megatron_mmupt.parallel.config import ParallelConfig


@pytest.mark.parametrize(
    ("heads", "kv", "head_dim", "valid"),
    [
        (4, 2, 32, [1, 2, 4]),  # TP=4 shares each KV head between 2 ranks
        (4, 1, 32, [1, 2, 4]),  # one KV head: every TP rank shares it
        (28, 4, 128, [1, 2, 4]),  # Qwen2.5-VL-7B: 7, 14 are no multiple of 4; 28 cannot split 1024 K/V rows
        (12, 3, 1, [1, 3, 6]),  # 2 x 3 KV heads x head_dim 1 = 6 rows: TP=12 cannot split them
        (64, 8, 128, [1, 2, 4, 8, 16, 32, 64]),  # 72B-class: 8 KV heads, TP up to the 64 heads
    ],
)
def test_valid_tensor_degrees(heads, kv, head_dim, valid):
    assert valid_tensor_degrees(num_attention_heads=heads, num_key_value_heads=kv, head_dim=head_dim) == valid


@pytest.mark.parametrize(
    ("parallel", "message"),
    [
        (ParallelConfig(tensor_degree=3), r"must divide the 4 attention heads; valid degrees: 1, 2, 4$"),
        (ParallelConfig(tensor_degree=8), r"must divide the 4 attention heads; valid degrees: 1, 2, 4$"),
        (ParallelConfig(pipeline_degree=3), r"must divide the 2 layers; valid degrees: 1, 2$"),
    ],
)
def test_errors_name_the_constraint_and_the_valid_degrees(parallel, message):
    with pytest.raises(ConfigError, match=message):
        check_parallel_layout(parallel, num_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=32)


def test_kv_heads_neither_divided_nor_multiple():
    with pytest.raises(
        ConfigError, match=r"divide the 4 key/value heads or be a multiple of them.*valid degrees: 1, 2, 4, 8, 16$"
    ):
        check_parallel_layout(
            ParallelConfig(tensor_degree=6), num_layers=1, num_attention_heads=48, num_key_value_heads=4, head_dim=8
        )


def test_kv_rows_must_split_evenly():
    with pytest.raises(ConfigError, match="must divide the 6 key and value rows"):
        check_parallel_layout(
            ParallelConfig(tensor_degree=12), num_layers=1, num_attention_heads=12, num_key_value_heads=3, head_dim=1
        )


def test_hf_text_config_dict():
    text = {"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "hidden_size": 128}
    check_hf_text_layout(ParallelConfig(tensor_degree=2), text)  # one KV head at TP=2: shared, allowed
    check_hf_text_layout(ParallelConfig(tensor_degree=4), text)
    with pytest.raises(ConfigError, match="tensor_degree=8"):
        check_hf_text_layout(ParallelConfig(tensor_degree=8), text)
