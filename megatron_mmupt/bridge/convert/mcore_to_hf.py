"""Megatron-Core dist-checkpoint -> Hugging Face folder (``megatron-mmupt convert mcore-to-hf``), at any TP/PP.

Data flow: ``mmupt_bridge.json`` (source config, padded vocabulary, spec, dtype) -> ``build_model`` at this
launch's TP/PP -> ``dist_checkpointing.load`` (Megatron reshards: a checkpoint saved at TP=2 loads at PP=2)
-> ``iter_hf_buckets(receivers=FIRST)`` (TP gather, PP send to rank 0) -> ``write_hf_folder`` on rank 0
(sharded safetensors + index, ``config.json``, the tokenizer / processor files saved with the checkpoint).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch.distributed as dist

from megatron_mmupt.actor.megatron.config_bridge import text_config
from megatron_mmupt.actor.megatron.model_provider import build_model
from megatron_mmupt.bridge.convert.metadata import HF_FILES_DIR, CheckpointMetadata
from megatron_mmupt.bridge.convert.session import ConvertReport, call_collectively, launch_world_size, parallel_session
from megatron_mmupt.bridge.exporter import Receivers, iter_hf_buckets, receives
from megatron_mmupt.bridge.hf_writer import DEFAULT_MAX_SHARD_BYTES, check_destination, write_hf_folder
from megatron_mmupt.models.parallel_layout import check_hf_text_layout, valid_tensor_degrees
from megatron_mmupt.parallel.config import ParallelConfig

DEFAULT_BUCKET_BYTES = 512 * 1024**2
"""Bytes per export bucket: rank 0 holds one bucket (plus one shard in the writer) at a time."""


def mcore_to_hf(
    ckpt: str | Path,
    out: str | Path,
    *,
    parallel: ParallelConfig | None = None,
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> ConvertReport:
    """Export the checkpoint ``ckpt`` (written by ``hf_to_mcore``) to the HF folder ``out`` (new or empty).

    ``parallel``: the TP/PP to load at; by default ``layout_for_world`` of this launch. The vocabulary is padded
    by ``parallel``'s rule, as the trainer does: Megatron loads embedding rows with ``allow_shape_mismatch``
    (the overlap is read, padding beyond it is zero), and the export cuts to the HF vocabulary anyway.
    Collective under ``torchrun``; only rank 0 writes.
    """
    start = time.perf_counter()
    ckpt, out = Path(ckpt), Path(out)
    metadata = CheckpointMetadata.read(ckpt)
    hf_config = metadata.hf_config_object()
    check_destination(out)
    layout = parallel or layout_for_world(launch_world_size(), hf_config)
    text = text_config(hf_config)
    check_hf_text_layout(layout, text)
    with parallel_session(layout) as groups:
        model = build_model(hf_config, layout, groups, params_dtype=metadata.torch_dtype, spec=metadata.spec)
        _load(model, ckpt)
        buckets = iter_hf_buckets(
            model, hf_config, groups, spec=metadata.spec, bucket_bytes=bucket_bytes, receivers=Receivers.FIRST
        )

        def export() -> None:
            try:
                if receives(groups, Receivers.FIRST):
                    write_hf_folder(
                        buckets,
                        out,
                        config=metadata.hf_config,
                        files_from=ckpt / HF_FILES_DIR,
                        max_shard_bytes=max_shard_bytes,
                    )
            finally:
                for _ in buckets:  # drive this rank's collectives (the writer's peers wait for them after a failure)
                    pass

        call_collectively(export)
        return ConvertReport(
            out, dist.get_rank(), groups.tp_size, groups.pp_size, groups.dp_size, time.perf_counter() - start
        )


def layout_for_world(world_size: int, hf_config: Any) -> ParallelConfig:
    """The layout to load at when none is given: the largest TP that divides the world size and that the
    attention can be split into (``models.parallel_layout``: it divides the heads, and divides the KV heads or
    is a multiple of them); then the largest PP that divides the remaining ranks and the layers; any ranks left
    over are data-parallel replicas (they load, and do not write)."""
    text = text_config(hf_config)
    heads = text.num_attention_heads
    valid = valid_tensor_degrees(
        num_attention_heads=heads,
        num_key_value_heads=text.num_key_value_heads,
        head_dim=getattr(text, "head_dim", None) or text.hidden_size // heads,
    )
    tp = max(d for d in valid if world_size % d == 0)
    rest = world_size // tp
    pp = max(d for d in range(1, rest + 1) if rest % d == 0 and text.num_hidden_layers % d == 0)
    return ParallelConfig(tensor_degree=tp, pipeline_degree=pp)


def _load(model: Any, ckpt: Path) -> None:
    """Fill ``model`` (this rank's chunk) from the dist-checkpoint; Megatron reshards to this TP/PP."""
    from megatron.core import dist_checkpointing

    request = model.sharded_state_dict()
    state = dist_checkpointing.load(request, str(ckpt))
    # NOTE: a training checkpoint (``checkpoint/``) also holds the optimizer, whose non-tensor part comes back too.
    model.load_state_dict({key: value for key, value in state.items() if key in request}, strict=True)
