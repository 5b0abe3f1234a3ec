"""Weight updates of the local engine from HF checkpoint-named buckets: mapping, checks, atomicity, disk."""

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from megatron_mmupt.rollout.engine import SamplingConfig, WeightUpdateError
from megatron_mmupt.rollout.weights import (
    CheckpointNames,
    check_bucket,
    read_checkpoint_spec,
    read_safetensors_folder,
    write_safetensors_folder,
)


def checkpoint_tensors(folder):
    """The trainer's side: tensors under their on-disk (hub) names, as the bridge yields them."""
    return load_file(str(folder / "model.safetensors"))


def buckets_of(tensors, size=10):
    items = sorted(tensors.items())
    return [items[i : i + size] for i in range(0, len(items), size)]


def engine_weights(engine):
    return {name: p.detach().clone() for name, p in engine.model.named_parameters()}


def assert_engine_holds(engine, tensors):
    for name, tensor in tensors.items():
        param = engine.names.parameters[engine.names.resolve(name)]
        assert torch.equal(param.detach(), tensor.to(param.dtype)), name


def test_the_name_table_is_the_checkpoint_layout(engine, tiny_model_dir):
    with safe_open(str(tiny_model_dir / "model.safetensors"), "pt") as f:
        on_disk = set(f.keys())
    assert set(engine.names.checkpoint_names()) == on_disk
    assert engine.names.resolve("model.layers.0.self_attn.q_proj.weight") == (
        "model.language_model.layers.0.self_attn.q_proj.weight"
    )
    assert engine.names.resolve("visual.blocks.1.attn.qkv.weight") == "model.visual.blocks.1.attn.qkv.weight"
    assert engine.names.resolve("model.language_model.norm.weight") == "model.language_model.norm.weight"
    assert engine.names.resolve("model.layers.0.self_attn.q_proj.weights") is None


def test_in_process_update_makes_the_engine_equal_the_source(fresh_engine, other_model_dir, prompt_batch):
    source = checkpoint_tensors(other_model_dir)
    before = fresh_engine.generate(prompt_batch, SamplingConfig(n=2, max_new_tokens=4))
    fresh_engine.update_weights(iter(buckets_of(source)), version=3)  # a lazy iterable, as the bridge yields
    assert_engine_holds(fresh_engine, source)
    assert fresh_engine.weight_version == 3 and fresh_engine.health().weight_version == 3
    after = fresh_engine.generate(prompt_batch, SamplingConfig(n=2, max_new_tokens=4))
    assert [r.rollout_logprobs for g in after for r in g.rollouts] != [
        r.rollout_logprobs for g in before for r in g.rollouts
    ]
    assert {r.weight_version for g in after for r in g.rollouts} == {3}


def test_bf16_buckets_load_into_an_fp32_engine(fresh_engine, other_model_dir):
    source = {k: v.to(torch.bfloat16) for k, v in checkpoint_tensors(other_model_dir).items()}
    fresh_engine.update_weights(buckets_of(source), version=1)
    assert_engine_holds(fresh_engine, source)
    assert next(fresh_engine.model.parameters()).dtype == torch.float32


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (("model.layers.0.self_attn.q_proj.weights", (128, 128)), "tensor 'model.layers.0.self_attn.q_proj.weights'"
         ".*no such weight; did you mean 'model.layers.0.self_attn.q_proj.weight'"),
        (("model.norm.weight", (64,)), r"tensor 'model.norm.weight' \(bucket 6\): shape \(64,\) != the model's \(128,\)"),
    ],
)  # fmt: skip
def test_a_bad_tensor_is_named_and_nothing_changes(fresh_engine, other_model_dir, bad, message):
    source = checkpoint_tensors(other_model_dir)
    buckets = [*buckets_of(source), [(bad[0], torch.zeros(bad[1]))]]  # good buckets first, the bad one last
    weights = engine_weights(fresh_engine)
    with pytest.raises(WeightUpdateError, match=message):
        fresh_engine.update_weights(buckets, version=5)
    assert all(torch.equal(weights[n], p) for n, p in fresh_engine.model.named_parameters())
    assert fresh_engine.weight_version == 0


def test_duplicates_and_non_float_tensors_are_refused(fresh_engine):
    name = "model.norm.weight"
    with pytest.raises(WeightUpdateError, match="given twice"):
        fresh_engine.update_weights([[(name, torch.ones(128))], [(name, torch.ones(128))]], version=1)
    with pytest.raises(WeightUpdateError, match="expected a floating-point tensor, got a torch.int64 tensor"):
        fresh_engine.update_weights([[(name, torch.ones(128, dtype=torch.long))]], version=1)


def test_disk_round_trip(fresh_engine, other_model_dir, tmp_path):
    source = checkpoint_tensors(other_model_dir)
    folder = write_safetensors_folder(buckets_of(source, size=7), tmp_path / "sync")
    assert sorted(p.name for p in folder.iterdir())[-1] == "model.safetensors.index.json"
    assert not list(folder.glob(".*"))  # no staging files left
    assert sum(len(b) for b in read_safetensors_folder(folder)) == len(source)
    assert read_checkpoint_spec(folder) == {k: tuple(v.shape) for k, v in source.items()}
    fresh_engine.update_weights_from_disk(folder, version=2)
    assert_engine_holds(fresh_engine, source)
    with pytest.raises(WeightUpdateError, match="does not exist"):
        fresh_engine.update_weights_from_disk(tmp_path / "missing", version=3)


def test_bucket_check_against_a_checkpoint_spec(tiny_model_dir):
    spec = read_checkpoint_spec(tiny_model_dir)
    check_bucket([("lm_head.weight", torch.zeros(spec["lm_head.weight"]))], spec, 0)
    with pytest.raises(WeightUpdateError, match=r"tensor 'lm_head.weight' \(bucket 2\): shape \(1, 2\)"):
        check_bucket([("lm_head.weight", torch.zeros(1, 2))], spec, 2)


def test_text_only_model_names_are_its_module_names(text_model_dir):
    from transformers import AutoModelForCausalLM

    names = CheckpointNames(AutoModelForCausalLM.from_pretrained(text_model_dir))
    assert names.resolve("model.layers.1.mlp.up_proj.weight") == "model.layers.1.mlp.up_proj.weight"
    # Tied embeddings: the head is reachable under its own name and the embedding's.
    assert names.parameters[names.resolve("lm_head.weight")] is names.parameters["model.embed_tokens.weight"]
