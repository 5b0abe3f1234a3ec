"""``hf_writer.write_hf_folder``: shards and index, config and tokenizer files, atomic on failure."""

import json

import pytest
import torch
from safetensors import safe_open

from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.bridge.hf_writer import write_hf_folder
from megatron_mmupt.utils.errors import InputError

CONFIG = {"model_type": "qwen2_5_vl", "torch_dtype": "float16", "text_config": {"vocab_size": 7}}


def named_tensors(count: int = 6, numel: int = 25) -> list[tuple[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(count)
    return [(f"model.layers.{i}.w", torch.randn(numel, generator=generator)) for i in range(count)]


def as_buckets(pairs, per_bucket: int = 2):
    return [pairs[i : i + per_bucket] for i in range(0, len(pairs), per_bucket)]


def test_one_file_when_everything_fits(tmp_path):
    pairs = named_tensors()
    written = write_hf_folder(as_buckets(pairs), tmp_path / "m", config=CONFIG)
    assert written.weight_files == ("model.safetensors",) and written.num_tensors == 6
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    with safe_open(str(tmp_path / "m" / "model.safetensors"), "pt") as f:
        assert f.metadata() == {"format": "pt"}


def test_sharded_files_with_an_index(tmp_path):
    pairs = named_tensors(count=6, numel=25)  # 100 bytes each
    written = write_hf_folder(as_buckets(pairs, 4), tmp_path / "m", config=CONFIG, max_shard_bytes=250)
    out = tmp_path / "m"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    files = [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    assert written.weight_files == (*files, "model.safetensors.index.json")
    assert index["metadata"]["total_size"] == written.total_bytes == 600
    assert list(index["weight_map"]) == sorted(n for n, _ in pairs)
    for file in files:  # each file holds exactly the tensors the index assigns to it, in arrival order
        with safe_open(str(out / file), "pt") as f:
            assert sorted(f.keys()) == sorted(n for n, shard in index["weight_map"].items() if shard == file)
    assert index["weight_map"]["model.layers.0.w"] == files[0] and index["weight_map"]["model.layers.5.w"] == files[2]
    checkpoint = HFCheckpoint(out)
    assert all(torch.equal(checkpoint.get(n), t) for n, t in pairs)


def test_config_records_the_dtype_and_tokenizer_files_are_copied(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "tokenizer.json").write_text('{"version": "1.0"}')
    (source / "chat_template.jinja").write_text("{{ messages }}")
    (source / "model.safetensors").write_text("not copied: weights come from the buckets")
    pairs = [(n, t.to(torch.bfloat16)) for n, t in named_tensors(2)]
    written = write_hf_folder([pairs], tmp_path / "m", config=CONFIG, files_from=source)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert written.dtype == "bfloat16" and config["dtype"] == "bfloat16" and "torch_dtype" not in config
    assert config["text_config"] == CONFIG["text_config"]
    assert (tmp_path / "m" / "chat_template.jinja").read_text() == "{{ messages }}"
    assert HFCheckpoint(tmp_path / "m").get("model.layers.0.w").dtype == torch.bfloat16


def test_a_failure_leaves_no_folder(tmp_path):
    def failing_buckets():
        yield named_tensors(2)
        raise RuntimeError("export failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        write_hf_folder(failing_buckets(), tmp_path / "m", config=CONFIG, max_shard_bytes=100)
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its staging sibling


def test_refuses_to_overwrite_and_bad_streams(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(InputError, match="full already exists and is not an empty folder"):
        write_hf_folder([named_tensors(1)], tmp_path / "full", config=CONFIG)
    (tmp_path / "empty").mkdir()
    assert write_hf_folder([named_tensors(1)], tmp_path / "empty", config=CONFIG).num_tensors == 1
    with pytest.raises(ValueError, match="'model.layers.0.w' was given twice"):
        write_hf_folder([named_tensors(1), named_tensors(1)], tmp_path / "twice", config=CONFIG)
    with pytest.raises(ValueError, match="no tensors to write"):
        write_hf_folder([], tmp_path / "none", config=CONFIG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full"]


def test_transformers_loads_a_sharded_export(tiny_model_dir, tmp_path):
    """The index format is the one ``from_pretrained`` reads: same weights as the source folder."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    source = HFCheckpoint(tiny_model_dir)
    pairs = [(name, source.get(name)) for name in source.names()]
    config = json.loads((tiny_model_dir / "config.json").read_text())
    written = write_hf_folder(as_buckets(pairs, 5), tmp_path / "m", config=config, max_shard_bytes=500_000)
    assert len(written.weight_files) > 3
    ours = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "m").state_dict()
    reference = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir).state_dict()
    assert ours.keys() == reference.keys() and all(torch.equal(ours[k], reference[k]) for k in reference)
