"""The converters' checks that run before any process group: one clear line through the CLI, nothing written.

The conversions themselves run in ``tests/distributed/test_convert.py``.
"""

import json
from types import SimpleNamespace

import pytest
import torch

from megatron_mmupt.bridge.convert.mcore_to_hf import layout_for_world
from megatron_mmupt.bridge.convert.metadata import FORMAT, METADATA_FILE, CheckpointMetadata, params_dtype
from megatron_mmupt.cli import main
from megatron_mmupt.utils.errors import InputError


def run_cli(capsys, *args: str) -> str:
    assert main(["convert", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    return err


def test_hf_to_mcore_refuses_bad_inputs(tiny_model_dir, tmp_path, capsys):
    out = str(tmp_path / "ckpt")
    assert "no config.json in" in run_cli(capsys, "hf-to-mcore", "--hf", str(tmp_path), "--out", out)
    err = run_cli(capsys, "hf-to-mcore", "--hf", str(tiny_model_dir), "--out", out, "--tp", "3")
    assert "tensor_degree=3 must divide the 4 attention heads" in err
    err = run_cli(capsys, "hf-to-mcore", "--hf", str(tiny_model_dir), "--out", out, "--tp", "2")
    assert "needs a multiple of 2 ranks, this launch has 1; run under `torchrun --nproc_per_node=2" in err
    err = run_cli(capsys, "hf-to-mcore", "--hf", str(tiny_model_dir), "--out", str(tiny_model_dir))
    assert "already exists and is not an empty folder" in err
    assert not (tmp_path / "ckpt").exists()


def test_mcore_to_hf_needs_our_metadata(tmp_path, capsys):
    (tmp_path / "megatron-lm").mkdir()
    err = run_cli(capsys, "mcore-to-hf", "--ckpt", str(tmp_path / "megatron-lm"), "--out", str(tmp_path / "hf"))
    assert f"has no {METADATA_FILE}: it was not written by `megatron-mmupt convert hf-to-mcore`" in err
    err = run_cli(capsys, "mcore-to-hf", "--ckpt", str(tmp_path / "missing"), "--out", str(tmp_path / "hf"))
    assert "checkpoint folder" in err and "does not exist" in err


def test_metadata_round_trip_and_validation(tiny_model_dir, tmp_path):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    metadata = CheckpointMetadata(
        hf_config=config, padded_vocab_size=512, spec="local", tensor_degree=2, pipeline_degree=1, dtype="float32"
    )
    metadata.write(tmp_path)
    read = CheckpointMetadata.read(tmp_path)
    assert read == metadata and read.format == FORMAT and read.torch_dtype is torch.float32
    assert read.hf_config_object().text_config.vocab_size == config["text_config"]["vocab_size"]
    (tmp_path / METADATA_FILE).write_text(
        json.dumps({**json.loads((tmp_path / METADATA_FILE).read_text()), "format": "x"})
    )
    with pytest.raises(InputError, match="format 'x' is not"):
        CheckpointMetadata.read(tmp_path)
    (tmp_path / METADATA_FILE).write_text("{")
    with pytest.raises(InputError, match="is not a valid"):
        CheckpointMetadata.read(tmp_path)


def text(heads: int, kv_heads: int, layers: int, head_dim: int = 32) -> SimpleNamespace:
    config = SimpleNamespace(
        num_attention_heads=heads, num_key_value_heads=kv_heads, num_hidden_layers=layers, hidden_size=heads * head_dim
    )
    return SimpleNamespace(text_config=config)


@pytest.mark.parametrize(
    ("world", "config", "expected"),
    [
        (1, text(4, 2, 2), (1, 1)),
        (2, text(4, 2, 2), (2, 1)),
        (8, text(4, 2, 2), (4, 2)),  # TP=4 shares each of the 2 KV heads between 2 ranks
        (8, text(4, 1, 2), (4, 2)),  # one KV head, shared by all 4 TP ranks
        (16, text(4, 2, 3), (4, 1)),  # and 4 data-parallel replicas
        (6, text(12, 4, 6), (2, 3)),
        (16, text(28, 4, 28), (4, 4)),  # Qwen2.5-VL-7B on 2 nodes of 8
        (3, text(4, 2, 4), (1, 1)),
    ],
)
def test_layout_for_world(world, config, expected):
    layout = layout_for_world(world, config)
    assert (layout.tensor_degree, layout.pipeline_degree) == expected


def test_params_dtype_follows_the_checkpoint():
    assert params_dtype(SimpleNamespace(dtype="bfloat16")) is torch.bfloat16
    assert params_dtype(SimpleNamespace(dtype=torch.float16)) is torch.float16
    assert params_dtype(SimpleNamespace(dtype=None, text_config=SimpleNamespace())) is torch.float32
