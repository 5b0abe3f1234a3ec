"""Tensor-parallel layouts of Megatron-Core weights: HF tensors -> this rank's shard, and shards -> HF tensors.

Pure functions on tensors, one per layout (``Layout``):

* ``COLUMN``: split along dim 0 (output features), ``ROW``: along dim 1 (input features);
* ``REPLICATED``: the same full tensor on every rank (norms, the vision tower);
* ``VOCAB``: embedding / output rows, first padded with zeros to the padded vocabulary, then split on dim 0;
* ``QKV``: ``q, k, v`` fused per query group, ``[q heads of group g, k_g, v_g]`` for each group, then split
  contiguously (each rank holds ``groups / tp`` whole groups), as Megatron's ``linear_qkv`` expects;
* ``GATE_UP``: ``gate`` and ``up`` split separately and fused per rank, ``[gate_shard_r; up_shard_r]``, as
  Megatron's gated ``linear_fc1`` expects.

Every split has an exact inverse (``merge``): HF -> shards -> HF is bit-identical.
"""

from __future__ import annotations

import dataclasses
import enum

import torch


class Layout(enum.StrEnum):
    COLUMN = "column"
    ROW = "row"
    REPLICATED = "replicated"
    VOCAB = "vocab"
    QKV = "qkv"
    GATE_UP = "gate_up"


@dataclasses.dataclass(frozen=True, slots=True)
class AttentionShape:
    """What fusing q/k/v needs: heads, key/value heads (query groups) and the head dimension."""

    num_heads: int
    num_kv_heads: int
    head_dim: int

    @property
    def heads_per_group(self) -> int:
        return self.num_heads // self.num_kv_heads


def fuse_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, shape: AttentionShape) -> torch.Tensor:
    """``q (nh*d, ...)``, ``k``/``v`` ``(ng*d, ...)`` -> ``((nh + 2 ng) * d, ...)`` interleaved per group."""
    rest = q.shape[1:]
    d, g, per = shape.head_dim, shape.num_kv_heads, shape.heads_per_group
    q = q.reshape(g, per * d, *rest)
    k = k.reshape(g, d, *rest)
    v = v.reshape(g, d, *rest)
    return torch.cat([q, k, v], dim=1).reshape(-1, *rest)


def split_qkv(fused: torch.Tensor, shape: AttentionShape) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inverse of ``fuse_qkv`` for a full (all-groups) tensor."""
    rest = fused.shape[1:]
    d, g, per = shape.head_dim, shape.num_kv_heads, shape.heads_per_group
    grouped = fused.reshape(g, (per + 2) * d, *rest)
    q, k, v = grouped.split([per * d, d, d], dim=1)
    return q.reshape(-1, *rest), k.reshape(-1, *rest), v.reshape(-1, *rest)


def shard(
    hf: tuple[torch.Tensor, ...], layout: Layout, rank: int, size: int, *, padded_rows: int = 0, shape=None
) -> torch.Tensor:
    """This rank's Megatron shard from the HF tensor(s) of one parameter (copies; never views the source)."""
    if layout is Layout.REPLICATED:
        return hf[0].clone()
    if layout is Layout.COLUMN:
        return hf[0].chunk(size, dim=0)[rank].clone()
    if layout is Layout.ROW:
        return hf[0].chunk(size, dim=1)[rank].clone()
    if layout is Layout.VOCAB:
        full = hf[0]
        if padded_rows < full.shape[0]:
            raise ValueError(f"padded vocabulary {padded_rows} is smaller than the checkpoint's {full.shape[0]} rows")
        padded = torch.cat([full, full.new_zeros(padded_rows - full.shape[0], *full.shape[1:])])
        return padded.chunk(size, dim=0)[rank].clone()
    if layout is Layout.QKV:
        return fuse_qkv(*hf, shape).chunk(size, dim=0)[rank].clone()
    if layout is Layout.GATE_UP:
        gate, up = hf
        return torch.cat([gate.chunk(size, dim=0)[rank], up.chunk(size, dim=0)[rank]])
    raise ValueError(f"unknown layout {layout!r}")


def merge(shards: list[torch.Tensor], layout: Layout, *, hf_rows: int = 0, shape=None) -> tuple[torch.Tensor, ...]:
    """The HF tensor(s) of one parameter from the shards of all TP ranks, in rank order."""
    if layout is Layout.REPLICATED:
        return (shards[0],)
    if layout is Layout.COLUMN:
        return (torch.cat(shards, dim=0),)
    if layout is Layout.ROW:
        return (torch.cat(shards, dim=1),)
    if layout is Layout.VOCAB:
        return (torch.cat(shards, dim=0)[:hf_rows],)
    if layout is Layout.QKV:
        return split_qkv(torch.cat(shards, dim=0), shape)
    if layout is Layout.GATE_UP:
        halves = [s.chunk(2, dim=0) for s in shards]
        return torch.cat([h[0] for h in halves]), torch.cat([h[1] for h in halves])
    raise ValueError(f"unknown layout {layout!r}")
