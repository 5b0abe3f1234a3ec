"""Streaming export: a TP/PP-sharded Megatron model -> full Hugging Face tensors, in buckets of bounded bytes.

The single source of HF weights for both weight sync (actor -> rollout engines) and HF export (``hf_writer``).

Protocol (every rank of the participating replicas runs the same steps in the same order):

1. **Plan.** Each rank lists its stage's parameters as ``ExportItem`` (HF names, HF shapes computed by merging
   *meta* tensors, dtype, owning stage, sort key). The tied output layer (the last stage's copy of the
   embedding when PP > 1) is left out: ``lm_head.weight`` is not exported when embeddings are tied.
2. **Metadata exchange.** ``all_gather_object`` over the TP group (the stage's ranks must hold the same plan),
   then over the PP group (stage plans plus any error). Every rank then holds the global plan and the same list
   of errors, so a bad plan raises on every rank at the same point, before any tensor collective: never a hang.
3. **Tensors,** in the global order (vision tower, embeddings, decoder layers by global index, final norm,
   head; the same at every TP/PP layout): the owning stage gathers the parameter's TP shards
   (``REPLICATED``: no gather) and ``merge``s them (vocabulary padding is cut to the HF vocabulary); the HF
   tensors then travel from the owning stage to the receivers.
4. **Buckets.** HF tensors are grouped in order into buckets of at most ``bucket_bytes`` (a larger tensor gets
   a bucket of its own); the bucket boundaries are a pure function of the plan, so every receiver yields the same.

Receivers (``Receivers``): ``ALL``: every rank (TP all-gather, PP broadcast from the owning stage; each
data-parallel replica works on its own); ``FIRST``: only the rank at tp 0, pp 0, dp 0 (TP gather to tp 0,
point-to-point send from each stage's tp 0 to it; replicas with dp > 0 do nothing). Non-receivers yield
nothing but must still exhaust the iterator, and nobody may run collectives inside the loop.

Memory: a receiver holds one bucket plus the HF tensors of one parameter; the yielded tensors own their storage
(copies; later optimizer steps do not change them).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist

from megatron_mmupt.actor.megatron.config_bridge import text_config
from megatron_mmupt.actor.megatron.distributed import ParallelGroups
from megatron_mmupt.bridge.importer import attention_shape
from megatron_mmupt.bridge.name_maps.rules import EMBEDDING_HF_NAME, TIED_HF_NAME
from megatron_mmupt.bridge.param_map import ParamMap, Resolved
from megatron_mmupt.bridge.transforms import AttentionShape, Layout, merge

HFTensors = list[tuple[str, torch.Tensor]]


class Receivers(enum.StrEnum):
    ALL = "all"
    """Every rank gets every bucket (in-process consumers, tests)."""
    FIRST = "first"
    """Only the rank at tp 0, pp 0, dp 0 (global rank 0 in Megatron's rank order) gets buckets (HF export)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ExportItem:
    """One Megatron parameter of the export plan: metadata only, exchanged between ranks with pickle."""

    megatron: str
    """Local parameter name on its stage (``decoder.layers.0`` is the stage's first layer)."""
    layout: Layout
    hf: tuple[str, ...]
    hf_shapes: tuple[tuple[int, ...], ...]
    local_shape: tuple[int, ...]
    """Shape of this rank's shard (the same on every TP rank of the stage)."""
    dtype: torch.dtype
    stage: int
    key: tuple[int, int, int]
    """Global order: (section, global layer, module order); independent of the TP/PP layout."""

    @property
    def hf_nbytes(self) -> int:
        """Bytes of this parameter's full HF tensors."""
        return torch.empty((), dtype=self.dtype).element_size() * sum(math.prod(s) for s in self.hf_shapes)


def iter_hf_buckets(
    model: torch.nn.Module,
    hf_config: Any,
    groups: ParallelGroups,
    *,
    spec: str,
    bucket_bytes: int,
    receivers: Receivers = Receivers.ALL,
) -> Iterator[HFTensors]:
    """Yield ``[(hf_name, full tensor), ...]`` buckets of at most ``bucket_bytes`` on the receiving ranks.

    Collective: every rank of the model-parallel replica must call it and exhaust it (see the module docstring).
    """
    if bucket_bytes <= 0:
        raise ValueError(f"bucket_bytes must be positive, got {bucket_bytes}")
    if receivers is Receivers.FIRST and groups.dp_rank != 0:
        return  # replicas hold the same weights; only dp 0 takes part
    plan = export_plan(model, hf_config, groups, spec=spec)
    tensors = _stream_tensors(model, plan, hf_config, groups, receivers)
    yield from bucket_by_bytes(tensors, bucket_bytes)


def receives(groups: ParallelGroups, receivers: Receivers) -> bool:
    """Whether this rank gets the buckets of ``iter_hf_buckets(..., receivers=receivers)``."""
    return receivers is Receivers.ALL or groups.tp_rank == groups.pp_rank == groups.dp_rank == 0


def bucket_by_bytes(tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int) -> Iterator[HFTensors]:
    """Group a stream of named tensors, in order, into lists of at most ``bucket_bytes`` (pure).

    A tensor larger than ``bucket_bytes`` forms a bucket of its own; no bucket is empty.
    """
    bucket: HFTensors = []
    size = 0
    for name, tensor in tensors:
        nbytes = tensor.numel() * tensor.element_size()
        if bucket and size + nbytes > bucket_bytes:
            yield bucket
            bucket, size = [], 0
        bucket.append((name, tensor))
        size += nbytes
    if bucket:
        yield bucket


def export_plan(model: torch.nn.Module, hf_config: Any, groups: ParallelGroups, *, spec: str) -> list[ExportItem]:
    """The global, ordered export plan, identical on every rank of the replica (collective over TP and PP)."""
    errors: list[str] = []
    try:
        local = stage_plan(model, hf_config, spec=spec, stage=groups.pp_rank, tp_size=groups.tp_size)
    except (KeyError, ValueError) as e:  # an unmapped parameter: report it everywhere, do not leave peers waiting
        local, errors = [], [f"pipeline stage {groups.pp_rank}: {e}"]
    peers = _all_gather_object((local, errors), groups.tp_group)
    errors = sorted({e for _, peer_errors in peers for e in peer_errors})
    if not errors and any(plan != peers[0][0] for plan, _ in peers):  # symmetric: every TP rank decides alike
        errors = [f"pipeline stage {groups.pp_rank}: its tensor-parallel ranks hold different parameters"]
    stages = _all_gather_object((local, errors), groups.pp_group)
    all_errors = sorted({e for _, stage_errors in stages for e in stage_errors})
    if all_errors:
        raise ValueError("cannot export: " + "; ".join(all_errors))
    plan = sorted((item for stage_items, _ in stages for item in stage_items), key=lambda item: item.key)
    _check_unique(plan)
    return plan


def stage_plan(model: torch.nn.Module, hf_config: Any, *, spec: str, stage: int, tp_size: int) -> list[ExportItem]:
    """This stage's ``ExportItem``s in module order (no communication); the tied output layer is left out."""
    param_map, shape = ParamMap.for_config(hf_config, spec), attention_shape(hf_config)
    hf_rows = text_config(hf_config).vocab_size
    tied = bool(getattr(model, "share_embeddings_and_output_weights", False))
    offset = layer_offset(model)
    items = []
    for index, (name, param) in enumerate(model.named_parameters()):
        resolved = param_map.resolve(name, offset)
        if tied and resolved.hf == (TIED_HF_NAME,):
            continue  # the last stage's copy of the embedding (PP > 1): exported once, as embed_tokens
        meta = [torch.empty(param.shape, dtype=param.dtype, device="meta")] * tp_size
        layout = resolved.layout
        hf_shapes = tuple(tuple(t.shape) for t in merge(meta, layout, hf_rows=hf_rows, shape=shape))
        key = (_section(resolved), resolved.layer or 0, index)
        items.append(ExportItem(name, layout, resolved.hf, hf_shapes, tuple(param.shape), param.dtype, stage, key))
    return items


def layer_offset(model: torch.nn.Module) -> int:
    """Global index of this stage's first decoder layer (Megatron's ``layer_number`` is global and 1-based)."""
    layers = model.language_model.decoder.layers
    return layers[0].layer_number - 1 if len(layers) else 0


def _section(resolved: Resolved) -> int:
    if resolved.layer is not None:
        return 2
    if resolved.is_vision:
        return 0
    return {EMBEDDING_HF_NAME: 1, TIED_HF_NAME: 4}.get(resolved.hf[0], 3)  # 3: the final norm


def _stream_tensors(
    model: torch.nn.Module, plan: list[ExportItem], hf_config: Any, groups: ParallelGroups, receivers: Receivers
) -> Iterator[tuple[str, torch.Tensor]]:
    """HF tensors in plan order on the receiving ranks; the other ranks only take part in the collectives."""
    params = dict(model.named_parameters())
    device = next(iter(params.values())).device if params else torch.device("cpu")
    hf_rows, shape = text_config(hf_config).vocab_size, attention_shape(hf_config)
    is_receiver = receives(groups, receivers)
    for item in plan:
        merged = None
        if item.stage == groups.pp_rank:
            merged = _merge_on_stage(params[item.megatron], item, groups, receivers, hf_rows, shape)
        if groups.pp_size > 1:
            merged = _from_owning_stage(merged, item, groups, receivers, device)
        if is_receiver:
            yield from zip(item.hf, merged, strict=True)


def _merge_on_stage(
    param: torch.Tensor,
    item: ExportItem,
    groups: ParallelGroups,
    receivers: Receivers,
    hf_rows: int,
    shape: AttentionShape,
) -> tuple[torch.Tensor, ...] | None:
    """Full HF tensors of one parameter on the stage's ranks that need them (all, or tp 0 for ``FIRST``)."""
    local = param.detach()
    if item.layout is Layout.REPLICATED or groups.tp_size == 1:
        if receivers is Receivers.FIRST and groups.tp_rank != 0:
            return None
        shards = [local]
    elif receivers is Receivers.ALL:
        shards = [torch.empty_like(local) for _ in range(groups.tp_size)]
        dist.all_gather(shards, local.contiguous(), group=groups.tp_group)
    else:
        dst = dist.get_global_rank(groups.tp_group, 0)
        shards = [torch.empty_like(local) for _ in range(groups.tp_size)] if groups.tp_rank == 0 else None
        dist.gather(local.contiguous(), shards, dst=dst, group=groups.tp_group)
        if shards is None:
            return None
    merged = merge(shards, item.layout, hf_rows=hf_rows, shape=shape)
    return tuple(_owned(t, local) for t in merged)


def _from_owning_stage(
    merged: tuple[torch.Tensor, ...] | None,
    item: ExportItem,
    groups: ParallelGroups,
    receivers: Receivers,
    device: torch.device,
) -> tuple[torch.Tensor, ...] | None:
    """Move one parameter's HF tensors from its stage to the other stages (``ALL``) or to stage 0's tp 0."""
    owner = dist.get_global_rank(groups.pp_group, item.stage)
    if receivers is Receivers.ALL:
        if merged is None:
            merged = tuple(torch.empty(s, dtype=item.dtype, device=device) for s in item.hf_shapes)
        for tensor in merged:
            dist.broadcast(tensor, src=owner, group=groups.pp_group)
        return merged
    if groups.tp_rank != 0 or item.stage == 0:
        return merged
    first = dist.get_global_rank(groups.pp_group, 0)
    if groups.pp_rank == item.stage:
        for tensor in merged:
            dist.send(tensor, dst=first)
        return None
    if groups.pp_rank == 0:
        received = tuple(torch.empty(s, dtype=item.dtype, device=device) for s in item.hf_shapes)
        for tensor in received:
            dist.recv(tensor, src=owner)
        return received
    return None


def _owned(tensor: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``tensor`` if it exclusively owns a contiguous storage distinct from the parameter's, else a copy."""
    storage = tensor.untyped_storage()
    exclusive = storage.nbytes() == tensor.numel() * tensor.element_size() and tensor.is_contiguous()
    if exclusive and storage.data_ptr() != source.untyped_storage().data_ptr():
        return tensor
    return tensor.clone(memory_format=torch.contiguous_format)


def _all_gather_object(obj: Any, group: dist.ProcessGroup) -> list[Any]:
    if dist.get_world_size(group) == 1:
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(gathered, obj, group=group)
    return gathered


def _check_unique(plan: list[ExportItem]) -> None:
    seen: dict[str, str] = {}
    for item in plan:
        for name in item.hf:
            if name in seen:
                raise ValueError(f"{name} would be exported twice: from {seen[name]} and {item.megatron}")
            seen[name] = item.megatron
