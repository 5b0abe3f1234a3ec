"""HF -> Megatron dist-checkpoint (TP=2) -> HF (PP=2, and TP=1 with two data-parallel replicas) is bit-identical.

Three tiny Qwen2.5-VL variants: untied, tied embeddings, and a vocabulary that is not a multiple of the padding
multiple. The loads pad the vocabulary differently from the save (512 saved -> 600 loaded at PP=2; for the odd
vocabulary 600 saved -> 500 at PP=2 and 512 at TP=1): Megatron reads the overlapping rows, the export cuts the
padding. One spawn of 2 gloo processes converts everything; the parent compares the folders. A last test runs
the command line itself: ``torchrun`` with 2 ranks, then one plain process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.distributed.checkpoint import FileSystemReader

from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.bridge.hf_writer import TOKENIZER_FILES
from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig, create_model_folder

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed

VARIANTS = {  # name: (model sizes, make_vocab_size_divisible_by at conversion)
    "untied": (TinyQwen2_5_VLConfig(), 128),
    "tied": (TinyQwen2_5_VLConfig(tie_word_embeddings=True), 128),
    "odd-vocab": (TinyQwen2_5_VLConfig(vocab_multiple=1), 100),
}
LOAD_LAYOUTS = {"pp2": (1, 2, 100), "tp1": (1, 1, 128)}  # name: (tp, pp, make_vocab_size_divisible_by)
SHARD_BYTES = 1 << 20  # the tiny models are ~3 MB: the exports are sharded, with an index


def _convert_worker(rank: int, world_size: int, sources: dict[str, str], root: str) -> None:
    from megatron_mmupt.bridge.convert.hf_to_mcore import hf_to_mcore
    from megatron_mmupt.bridge.convert.mcore_to_hf import mcore_to_hf
    from megatron_mmupt.parallel.config import ParallelConfig

    for name, source in sources.items():
        divisible_by = VARIANTS[name][1]
        ckpt = Path(root) / f"{name}-mcore-tp2"
        hf_to_mcore(source, ckpt, parallel=ParallelConfig(tensor_degree=2, make_vocab_size_divisible_by=divisible_by))
        for layout, (tp, pp, multiple) in LOAD_LAYOUTS.items():
            parallel = ParallelConfig(tensor_degree=tp, pipeline_degree=pp, make_vocab_size_divisible_by=multiple)
            out = Path(root) / f"{name}-hf-{layout}"
            mcore_to_hf(ckpt, out, parallel=parallel, bucket_bytes=200_000, max_shard_bytes=SHARD_BYTES)


@pytest.fixture(scope="module")
def sources(demo_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    return {
        name: create_model_folder(root / name, demo_dir / "processor", sizes, seed=seed)
        for seed, (name, (sizes, _)) in enumerate(VARIANTS.items())
    }


@pytest.fixture(scope="module")
def converted(sources, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("converted")
    run_distributed(_convert_worker, 2, {k: str(v) for k, v in sources.items()}, str(root), timeout=280)
    return root


def assert_same_model_folder(source: Path, exported: Path) -> None:
    """Same tensor names, bit-identical values and dtypes, the same config and processor files."""
    ours, theirs = HFCheckpoint(exported), HFCheckpoint(source)
    assert ours.names() == theirs.names()
    different = [n for n in theirs.names() if not torch.equal(ours.get(n), theirs.get(n))]
    assert different == [], f"{exported}: tensors differ from {source}: {different[:5]}"
    assert json.loads((exported / "config.json").read_text()) == json.loads((source / "config.json").read_text())
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            assert (exported / name).read_bytes() == (source / name).read_bytes(), name


@pytest.mark.parametrize("layout", list(LOAD_LAYOUTS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_round_trip_is_bit_identical(converted, sources, variant, layout):
    exported = converted / f"{variant}-hf-{layout}"
    assert_same_model_folder(sources[variant], exported)
    index = json.loads((exported / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) >= 3  # sharded at SHARD_BYTES
    assert sorted(p.name for p in converted.iterdir() if p.name.startswith(".")) == []  # no staging left


def test_tied_and_padded_vocab_cases(converted, sources):
    assert "lm_head.weight" not in HFCheckpoint(converted / "tied-hf-pp2").names()
    metadata = json.loads((converted / "odd-vocab-mcore-tp2" / "mmupt_bridge.json").read_text())
    vocab = metadata["hf_config"]["text_config"]["vocab_size"]
    assert vocab % 128 and metadata["padded_vocab_size"] == 600, (vocab, metadata["padded_vocab_size"])
    assert (metadata["tensor_degree"], metadata["pipeline_degree"], metadata["spec"]) == (2, 1, "local")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_vision_tower_is_saved_once_in_the_dist_checkpoint(converted, sources, variant):
    """``Qwen2_5_VLModel.sharded_state_dict``: the TP-replicated vision tower is stored whole, under its HF names."""
    saved = FileSystemReader(str(converted / f"{variant}-mcore-tp2")).read_metadata().state_dict_metadata
    checkpoint = HFCheckpoint(sources[variant])
    visual = [n for n in checkpoint.names() if n.startswith("visual.")]
    assert visual and sorted(k for k in saved if k.startswith("visual.")) == visual
    assert all(tuple(saved[n].size) == tuple(checkpoint.get(n).shape) for n in visual)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_command_line_under_torchrun_then_in_one_process(sources, tmp_path):
    """The user's path: ``torchrun ... convert hf-to-mcore --tp 2``, then ``convert mcore-to-hf`` in one process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = ["-m", "megatron_mmupt.cli", "convert"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}"]
    to_mcore = [
        *torchrun,
        *cli,
        "hf-to-mcore",
        "--hf",
        str(sources["tied"]),
        "--out",
        str(tmp_path / "ck"),
        "--tp",
        "2",
    ]
    done = subprocess.run(to_mcore, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1 and "tp=2 pp=1 dp=1" in done.stdout  # rank 0 reports
    to_hf = [sys.executable, *cli, "mcore-to-hf", "--ckpt", str(tmp_path / "ck"), "--out", str(tmp_path / "hf")]
    done = subprocess.run(to_hf, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tp=1 pp=1 dp=1" in done.stdout
    assert_same_model_folder(sources["tied"], tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file()  # one shard: no index
