"""Every family (``models.families``) and one KV head at TP=2: logits against transformers and bit-exact round trips.

Tiny random models of Qwen2-VL and text-only Qwen2 (Qwen2.5-VL's parity is ``test_qwen2_5_vl_parity.py``), and a
Qwen2.5-VL with a single KV head, tied embeddings and a vocabulary that is no multiple of the padding: at TP=2
both ranks share that head (Megatron-Core's ``num_query_groups < tp`` path). Parity runs at TP=1, TP=2 and PP=2;
the round trips go HF -> Megatron dist-checkpoint (TP=2) -> HF at TP=2, TP=1 and PP=2. Two gloo processes, fp32.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors import safe_open

from megatron_mmupt.models.tiny_families import create_family_folder
from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
    from test_convert import assert_same_model_folder
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed
    from tests.distributed.test_convert import assert_same_model_folder

pytestmark = pytest.mark.distributed
TOLERANCE = 1e-4

MODELS = {  # name: (architecture, sizes)
    "qwen2-vl": ("Qwen2VLForConditionalGeneration", TinyQwen2_5_VLConfig()),
    "qwen2-text": ("Qwen2ForCausalLM", TinyQwen2_5_VLConfig()),
    "one-kv-head": (
        "Qwen2_5_VLForConditionalGeneration",
        TinyQwen2_5_VLConfig(num_key_value_heads=1, tie_word_embeddings=True, vocab_multiple=1),
    ),
    "qwen2-text-one-kv-head": ("Qwen2ForCausalLM", TinyQwen2_5_VLConfig(num_key_value_heads=1)),
}
ROUND_TRIP_MODELS = {**MODELS, "qwen2.5-vl": ("Qwen2_5_VLForConditionalGeneration", TinyQwen2_5_VLConfig())}
LOAD_LAYOUTS = {"tp2": (2, 1), "tp1": (1, 1), "pp2": (1, 2)}  # name: (tp, pp)


@pytest.fixture(scope="module")
def model_dirs(demo_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {
        name: create_family_folder(architecture, root / name, demo_dir / "processor", sizes, seed=seed)
        for seed, (name, (architecture, sizes)) in enumerate(ROUND_TRIP_MODELS.items())
    }


def _parity_worker(rank: int, world_size: int, model_dirs: dict[str, str], tp: int, pp: int) -> dict[str, float]:
    from megatron_mmupt.actor.megatron.distributed import init_parallel
    from megatron_mmupt.actor.megatron.parity import (
        max_abs_difference,
        megatron_logits,
        parity_batch,
        transformers_logits,
    )
    from megatron_mmupt.parallel.config import ParallelConfig

    parallel = ParallelConfig(tensor_degree=tp, pipeline_degree=pp)
    groups = init_parallel(parallel)
    differences = {}
    for name, model_dir in model_dirs.items():
        batch, real = parity_batch(model_dir)
        logits = megatron_logits(model_dir, parallel, groups, batch)
        if logits is not None:
            differences[name] = max_abs_difference(logits, transformers_logits(model_dir, batch), real)
    return differences


@pytest.mark.parametrize(("tp", "pp"), [(1, 1), (2, 1), (1, 2)], ids=["tp1", "tp2", "pp2"])
def test_logits_match_transformers(model_dirs, tp, pp):
    dirs = {name: str(model_dirs[name]) for name in MODELS}
    results = run_distributed(_parity_worker, tp * pp, dirs, tp, pp, timeout=400, device_strict=True)
    reporting = [r for r in results if r]
    assert len(reporting) == tp  # every TP rank of the last stage gathers the full vocabulary
    for differences in reporting:
        assert set(differences) == set(MODELS)
        worst = {name: d for name, d in differences.items() if d > TOLERANCE}
        assert worst == {}, f"max |logit difference| above {TOLERANCE} at tp={tp}, pp={pp}: {worst}"


def _convert_worker(rank: int, world_size: int, sources: dict[str, str], root: str) -> None:
    from megatron_mmupt.bridge.convert.hf_to_mcore import hf_to_mcore
    from megatron_mmupt.bridge.convert.mcore_to_hf import mcore_to_hf
    from megatron_mmupt.parallel.config import ParallelConfig

    for name, source in sources.items():
        ckpt = Path(root) / f"{name}-mcore-tp2"
        hf_to_mcore(source, ckpt, parallel=ParallelConfig(tensor_degree=2, make_vocab_size_divisible_by=100))
        for layout, (tp, pp) in LOAD_LAYOUTS.items():
            parallel = ParallelConfig(tensor_degree=tp, pipeline_degree=pp)
            mcore_to_hf(ckpt, Path(root) / f"{name}-hf-{layout}", parallel=parallel, bucket_bytes=200_000)


@pytest.fixture(scope="module")
def converted(model_dirs, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("converted")
    run_distributed(_convert_worker, 2, {k: str(v) for k, v in model_dirs.items()}, str(root), timeout=400)
    return root


@pytest.mark.parametrize("layout", list(LOAD_LAYOUTS))
@pytest.mark.parametrize("model", list(ROUND_TRIP_MODELS))
def test_round_trip_is_bit_identical(converted, model_dirs, model, layout):
    assert_same_model_folder(model_dirs[model], converted / f"{model}-hf-{layout}")


def test_one_kv_head_is_exported_once(converted, model_dirs):
    """Both TP ranks compute with the one KV head; the export holds it once, at its HF shape."""
    source, exported = model_dirs["one-kv-head"], converted / "one-kv-head-hf-tp2"
    names = {}
    for folder in (source, exported):
        files = sorted(folder.glob("*.safetensors"))
        shapes = {}
        for file in files:
            with safe_open(str(file), "pt") as f:
                shapes |= {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
        names[folder] = shapes
    head_dim = 128 // 4
    assert names[exported]["model.layers.0.self_attn.k_proj.weight"] == (head_dim, 128)
    assert names[exported]["model.layers.0.self_attn.v_proj.bias"] == (head_dim,)
    assert names[exported] == names[source]
    assert "lm_head.weight" not in names[exported]  # tied
