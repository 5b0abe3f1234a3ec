"""Hugging Face folder -> Megatron-Core dist-checkpoint at a chosen TP/PP (``megatron-mmupt convert hf-to-mcore``).

Data flow on every rank: ``config.json`` -> ``build_model`` at (TP, PP) -> ``load_hf_weights`` (this rank's
shards straight from the safetensors files) -> ``dist_checkpointing.save(model.sharded_state_dict())`` into a
hidden staging folder -> rank 0 adds ``mmupt_bridge.json`` and ``hf_files/`` and renames the folder to ``out``
(a failure leaves no half-written checkpoint). Data-parallel replicas (world = tp * pp * dp) load as well, and
Megatron's replica ids let only one copy of each tensor be written. Multi-node: ``out`` must be on a file system
every node sees.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch.distributed as dist

from megatron_mmupt.actor.megatron.config_bridge import text_config
from megatron_mmupt.actor.megatron.distributed import ParallelGroups
from megatron_mmupt.actor.megatron.model_provider import build_model, load_hf_config
from megatron_mmupt.actor.megatron.specs import SpecName, resolve_spec
from megatron_mmupt.bridge.convert.metadata import HF_FILES_DIR, CheckpointMetadata, dtype_name, params_dtype
from megatron_mmupt.bridge.convert.session import ConvertReport, call_collectively, parallel_session
from megatron_mmupt.bridge.exporter import layer_offset
from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.bridge.hf_writer import check_destination, copy_tokenizer_files
from megatron_mmupt.bridge.importer import load_hf_weights, unused_weights
from megatron_mmupt.bridge.name_maps.rules import TIED_HF_NAME
from megatron_mmupt.models.parallel_layout import check_hf_text_layout
from megatron_mmupt.parallel.config import ParallelConfig
from megatron_mmupt.utils.errors import InputError


def hf_to_mcore(
    hf_dir: str | Path, out: str | Path, *, parallel: ParallelConfig, spec: SpecName = "auto"
) -> ConvertReport:
    """Convert ``hf_dir`` into a dist-checkpoint ``out`` (new or empty) at ``parallel``'s TP/PP.

    Collective: under ``torchrun`` every rank calls it with the same arguments; the world size must be a
    multiple of tp * pp. Inputs are validated before any process group work: a missing ``config.json`` or
    weights, a TP that does not divide the heads or KV groups, a PP that does not divide the layers.
    """
    start = time.perf_counter()
    hf_dir, out = Path(hf_dir), Path(out)
    hf_config = load_hf_config(hf_dir)
    checkpoint = HFCheckpoint(hf_dir)
    text = text_config(hf_config)
    check_hf_text_layout(parallel, text)
    check_destination(out)
    spec_name, dtype = resolve_spec(spec), params_dtype(hf_config)
    with parallel_session(parallel) as groups:
        model = build_model(hf_config, parallel, groups, params_dtype=dtype, spec=spec_name)
        used = load_hf_weights(
            model,
            checkpoint,
            hf_config,
            spec=spec_name,
            tp_rank=groups.tp_rank,
            tp_size=groups.tp_size,
            layer_offset=layer_offset(model),
        )
        _check_all_used(checkpoint, used, tied=model.share_embeddings_and_output_weights)
        metadata = CheckpointMetadata(
            hf_config=json.loads((hf_dir / "config.json").read_text()),
            padded_vocab_size=parallel.padded_vocab_size(text.vocab_size),
            spec=spec_name,
            tensor_degree=groups.tp_size,
            pipeline_degree=groups.pp_size,
            dtype=dtype_name(dtype),
        )
        _save(model, out, metadata, hf_dir)
        return _report(out, groups, start)


def _check_all_used(checkpoint: HFCheckpoint, used: set[str], *, tied: bool) -> None:
    """Every checkpoint tensor must be read by some rank: a leftover means config and weights disagree."""
    gathered: list[set[str] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, used)
    everything = set().union(*gathered)
    # NOTE: some tied checkpoints still store lm_head (a copy of the embedding); the model ties it anyway.
    unused = [name for name in unused_weights(checkpoint, everything) if not (tied and name == TIED_HF_NAME)]
    if unused:
        shown = ", ".join(unused[:5]) + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
        raise InputError(
            f"{checkpoint.folder}: {len(unused)} tensor(s) have no place in the model built from its config.json: "
            f"{shown}; check that config.json belongs to these weights"
        )


def _save(model: Any, out: Path, metadata: CheckpointMetadata, hf_dir: Path) -> None:
    from megatron.core import dist_checkpointing

    staging = out.with_name(f".{out.name}.partial")
    is_first = dist.get_rank() == 0
    call_collectively(lambda: _fresh_folder(staging) if is_first else None)
    dist_checkpointing.save(model.sharded_state_dict(), str(staging))
    call_collectively(lambda: _publish(staging, out, metadata, hf_dir) if is_first else None)


def _fresh_folder(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def _publish(staging: Path, out: Path, metadata: CheckpointMetadata, hf_dir: Path) -> None:
    """Add our metadata and the tokenizer files, then rename the staging folder to ``out`` (the commit)."""
    try:
        metadata.write(staging)
        (staging / HF_FILES_DIR).mkdir()
        copy_tokenizer_files(hf_dir, staging / HF_FILES_DIR)
        if out.exists():
            out.rmdir()  # an empty folder (checked at the start); rename needs the name free
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _report(out: Path, groups: ParallelGroups, start: float) -> ConvertReport:
    return ConvertReport(
        out, dist.get_rank(), groups.tp_size, groups.pp_size, groups.dp_size, time.perf_counter() - start
    )
