"""Bucketed export (``bridge.exporter.iter_hf_buckets``) equals the HF checkpoint bit for bit, at TP=2 and PP=2.

One spawn of 2 gloo processes does everything (each spawn costs ~10 s of imports): the tiny untied model at
TP=2 and at PP=2, each with both receiver modes and three bucket sizes (one tensor per bucket, a medium size,
larger than the model); the tied variant at PP=2 (the last stage's output-layer copy must not be exported);
and a rank holding a parameter its TP peer lacks, which must raise on both ranks instead of hanging. Device-strict:
the model sits on the rank's device, so the export's gathers see device tensors, as in training.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig, create_model_folder

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed

BUCKET_SIZES = {"tiny": 1, "medium": 64 * 1024, "huge": 1 << 40}
LAYOUTS = {"tp2": (2, 1), "pp2": (1, 2)}


def _load(model_dir: str, groups, parallel):
    from megatron_mmupt.actor.megatron.distributed import local_device
    from megatron_mmupt.actor.megatron.model_provider import build_model, load_hf_config, move_to_device
    from megatron_mmupt.bridge.exporter import layer_offset
    from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
    from megatron_mmupt.bridge.importer import load_hf_weights

    hf_config = load_hf_config(model_dir)
    model = build_model(hf_config, parallel, groups, spec="local")
    load_hf_weights(
        model,
        HFCheckpoint(model_dir),
        hf_config,
        spec="local",
        tp_rank=groups.tp_rank,
        tp_size=groups.tp_size,
        layer_offset=layer_offset(model),
    )
    return move_to_device(model, local_device()), hf_config  # the export reads the weights where training has them


def _summary(buckets: list, reference) -> dict:
    """Names in order, bytes per bucket, tensors per bucket, and names whose values differ from the checkpoint."""
    flat = [(name, tensor.cpu()) for bucket in buckets for name, tensor in bucket]
    return {
        "names": [name for name, _ in flat],
        "bucket_bytes": [sum(t.numel() * t.element_size() for _, t in b) for b in buckets],
        "bucket_lengths": [len(b) for b in buckets],
        "different": [name for name, t in flat if name not in reference or not torch.equal(t, reference.get(name))],
    }


def _export_worker(rank: int, world_size: int, untied_dir: str, tied_dir: str) -> dict:
    from megatron_mmupt.bridge.convert.session import parallel_session
    from megatron_mmupt.bridge.exporter import Receivers, iter_hf_buckets
    from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
    from megatron_mmupt.parallel.config import ParallelConfig

    results: dict = {}
    for layout, (tp, pp) in LAYOUTS.items():
        parallel = ParallelConfig(tensor_degree=tp, pipeline_degree=pp)
        with parallel_session(parallel) as groups:
            model, hf_config = _load(untied_dir, groups, parallel)
            for receivers in Receivers:
                for label, size in BUCKET_SIZES.items():
                    buckets = list(
                        iter_hf_buckets(model, hf_config, groups, spec="local", bucket_bytes=size, receivers=receivers)
                    )
                    results[layout, receivers.value, label] = _summary(buckets, HFCheckpoint(untied_dir))
            if layout == "pp2":
                tied, tied_config = _load(tied_dir, groups, parallel)
                buckets = list(iter_hf_buckets(tied, tied_config, groups, spec="local", bucket_bytes=1 << 20))
                results["tied-pp2"] = _summary(buckets, HFCheckpoint(tied_dir))
            if layout == "tp2":
                results["mismatch"] = _mismatched_plan_error(model, hf_config, groups)
    return results


def _mismatched_plan_error(model, hf_config, groups) -> str:
    """Give rank 1 a parameter rank 0 lacks: both ranks must raise (the plan exchange), none may hang."""
    from megatron_mmupt.bridge.exporter import iter_hf_buckets

    if groups.tp_rank == 1:
        model.language_model.register_parameter("stray", torch.nn.Parameter(torch.zeros(3)))
    try:
        list(iter_hf_buckets(model, hf_config, groups, spec="local", bucket_bytes=1 << 20))
    except ValueError as e:
        return str(e)
    return "no error"


@pytest.fixture(scope="module")
def tied_model_dir(demo_dir, tmp_path_factory):
    sizes = TinyQwen2_5_VLConfig(tie_word_embeddings=True)
    return create_model_folder(tmp_path_factory.mktemp("tied") / "model", demo_dir / "processor", sizes, seed=1)


@pytest.fixture(scope="module")
def exported(tiny_model_dir, tied_model_dir):
    return run_distributed(_export_worker, 2, str(tiny_model_dir), str(tied_model_dir), timeout=240, device_strict=True)


def _reference_names(model_dir: Path) -> set[str]:
    from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint

    return set(HFCheckpoint(model_dir).names())


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("bucket", list(BUCKET_SIZES))
def test_every_rank_gets_the_checkpoint_bit_for_bit(exported, tiny_model_dir, layout, bucket):
    reference = _reference_names(tiny_model_dir)
    size = BUCKET_SIZES[bucket]
    for rank in range(2):
        result = exported[rank][layout, "all", bucket]
        assert result["different"] == [], f"rank {rank}: values differ from the checkpoint"
        assert sorted(result["names"]) == sorted(reference) and len(result["names"]) == len(reference)
        for nbytes, length in zip(result["bucket_bytes"], result["bucket_lengths"], strict=True):
            assert nbytes <= size or length == 1, f"a bucket of {length} tensors has {nbytes} > {size} bytes"
    assert exported[0][layout, "all", bucket] == exported[1][layout, "all", bucket]  # same buckets on every rank
    num_buckets = len(exported[0][layout, "all", bucket]["bucket_bytes"])
    expected = {"tiny": len(reference), "huge": 1}.get(bucket)
    assert num_buckets == expected if expected else 1 < num_buckets < len(reference)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_first_receiver_gets_the_same_and_the_others_nothing(exported, layout):
    for bucket in BUCKET_SIZES:
        assert exported[0][layout, "first", bucket] == exported[0][layout, "all", bucket]
        assert exported[1][layout, "first", bucket]["names"] == []


def test_order_is_the_same_at_every_layout(exported):
    names = exported[0]["tp2", "all", "huge"]["names"]
    assert names == exported[0]["pp2", "all", "huge"]["names"]
    layers = [int(n.split(".")[2]) for n in names if n.startswith("model.layers.")]
    assert names[0].startswith("visual.") and layers == sorted(layers)
    text = [n for n in names if not n.startswith("visual.")]
    assert text[0] == "model.embed_tokens.weight" and text[-2:] == ["model.norm.weight", "lm_head.weight"]
    q = names.index("model.layers.1.self_attn.q_proj.weight")  # one fused parameter -> consecutive HF tensors
    assert names[q + 1 : q + 3] == ["model.layers.1.self_attn.k_proj.weight", "model.layers.1.self_attn.v_proj.weight"]


def test_tied_embeddings_are_exported_once(exported, tied_model_dir):
    for rank in range(2):
        result = exported[rank]["tied-pp2"]
        assert result["different"] == []
        assert "lm_head.weight" not in result["names"]
        assert sorted(result["names"]) == sorted(_reference_names(tied_model_dir))


def test_a_plan_mismatch_raises_on_every_rank(exported):
    for rank in range(2):
        message = exported[rank]["mismatch"]
        assert message.startswith("cannot export:") and "language_model.stray" in message, message
