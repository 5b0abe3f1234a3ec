"""Write a Hugging Face model folder from streamed, HF-named tensors (the exporter's buckets), atomically.

Data flow: buckets ``[(name, tensor), ...]`` -> re-grouped in arrival order into shards of at most
``max_shard_bytes`` (a larger tensor gets a shard of its own) -> one ``model.safetensors``, or
``model-0000X-of-0000N.safetensors`` plus ``model.safetensors.index.json`` when there are several shards (the
layout ``save_pretrained`` writes) -> ``config.json`` (the source config with the weights' ``dtype``) -> the
tokenizer / processor / generation files copied from a source folder.

Everything is written into a hidden sibling ``.NAME.partial`` that is renamed to ``NAME`` at the end: a crash
or an error leaves no half-written model folder (a killed process may leave the hidden staging folder, which
the next write replaces). Memory: one shard (``max_shard_bytes``) plus the bucket being consumed.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from megatron_mmupt.bridge.exporter import HFTensors, bucket_by_bytes
from megatron_mmupt.bridge.hf_checkpoint import INDEX_FILE, SINGLE_FILE
from megatron_mmupt.utils.errors import InputError

DEFAULT_MAX_SHARD_BYTES = 5 * 1024**3
"""Largest safetensors file, as ``save_pretrained(max_shard_size="5GB")`` (binary gigabytes here)."""

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
)
"""Non-weight files of a model folder that are copied when present (tokenizer, processor, generation)."""

Shard = tuple[list[str], Path, int]
"""(tensor names, file, tensor bytes) of one written safetensors file."""


@dataclasses.dataclass(frozen=True, slots=True)
class WrittenFolder:
    """What ``write_hf_folder`` wrote."""

    path: Path
    weight_files: tuple[str, ...]
    num_tensors: int
    total_bytes: int
    dtype: str


def write_hf_folder(
    buckets: Iterable[HFTensors],
    out: str | Path,
    *,
    config: dict[str, Any],
    files_from: str | Path | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> WrittenFolder:
    """Write ``out`` (must not exist, or be an empty folder) from ``buckets`` and the source ``config`` dict.

    ``config`` is the source ``config.json`` content; its ``dtype`` is set to the weights' dtype.
    ``files_from``: a folder whose ``TOKENIZER_FILES`` are copied when present.
    """
    out = Path(out)
    check_destination(out)
    if max_shard_bytes <= 0:
        raise ValueError(f"max_shard_bytes must be positive, got {max_shard_bytes}")
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        shards, bytes_by_dtype = _write_shards(_flatten(buckets), staging, max_shard_bytes)
        files = _name_shards(staging, shards)
        dtype = max(bytes_by_dtype, key=bytes_by_dtype.get)
        (staging / "config.json").write_text(json.dumps(_with_dtype(config, dtype), indent=2, sort_keys=True) + "\n")
        if files_from is not None:
            copy_tokenizer_files(files_from, staging)
        if out.exists():
            out.rmdir()  # empty, checked above; rename needs the name free
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    num_tensors = sum(len(names) for names, _, _ in shards)
    return WrittenFolder(out, files, num_tensors, sum(bytes_by_dtype.values()), dtype)


def check_destination(out: Path) -> None:
    """Refuse to overwrite: ``out`` must not exist or be an empty folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not an empty folder; remove it or choose another output")


def copy_tokenizer_files(source: str | Path, destination: str | Path) -> list[str]:
    """Copy the ``TOKENIZER_FILES`` present in ``source`` to ``destination``; return their names."""
    source, destination = Path(source), Path(destination)
    copied = [name for name in TOKENIZER_FILES if (source / name).is_file()]
    for name in copied:
        shutil.copy2(source / name, destination / name)
    return copied


def _flatten(buckets: Iterable[HFTensors]) -> Iterator[tuple[str, torch.Tensor]]:
    seen: set[str] = set()
    for bucket in buckets:
        for name, tensor in bucket:
            if name in seen:
                raise ValueError(f"tensor {name!r} was given twice; each HF name must be written once")
            seen.add(name)
            yield name, tensor


def _write_shards(
    tensors: Iterator[tuple[str, torch.Tensor]], staging: Path, max_shard_bytes: int
) -> tuple[list[Shard], dict[str, int]]:
    """Save shards under temporary names; return them and the bytes written per dtype."""
    shards: list[Shard] = []
    bytes_by_dtype: dict[str, int] = collections.Counter()
    for index, shard in enumerate(bucket_by_bytes(tensors, max_shard_bytes)):
        path = staging / f"shard-{index:05d}.tmp"
        save_file({name: t.detach().to("cpu").contiguous() for name, t in shard}, str(path), metadata={"format": "pt"})
        for _, tensor in shard:
            bytes_by_dtype[str(tensor.dtype).removeprefix("torch.")] += tensor.numel() * tensor.element_size()
        shards.append(([name for name, _ in shard], path, sum(t.numel() * t.element_size() for _, t in shard)))
    if not shards:
        raise ValueError("no tensors to write: the export produced no buckets on this rank")
    return shards, dict(bytes_by_dtype)


def _name_shards(staging: Path, shards: list[Shard]) -> tuple[str, ...]:
    """Give the shard files their final names; write the index when there are several."""
    if len(shards) == 1:
        shards[0][1].rename(staging / SINGLE_FILE)
        return (SINGLE_FILE,)
    weight_map: dict[str, str] = {}
    for index, (names, path, _) in enumerate(shards, start=1):
        name = f"model-{index:05d}-of-{len(shards):05d}.safetensors"
        path.rename(staging / name)
        weight_map.update(dict.fromkeys(names, name))
    total = sum(nbytes for _, _, nbytes in shards)  # tensor bytes, as save_pretrained counts them
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (staging / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    return (*sorted(set(weight_map.values())), INDEX_FILE)


def _with_dtype(config: dict[str, Any], dtype: str) -> dict[str, Any]:
    result = dict(config)
    result["dtype"] = dtype
    result.pop("torch_dtype", None)  # transformers 5.x reads `dtype`; the old key is deprecated
    return result
