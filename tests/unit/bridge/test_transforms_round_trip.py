"""``transforms.shard`` then ``merge`` over all TP ranks gives back the HF tensors bit for bit (random, odd shapes).

Also: merging *meta* tensors gives the shapes merging real ones does (the exporter computes the HF shapes a
non-owning pipeline stage must receive that way, without data).
"""

import pytest
import torch

from megatron_mmupt.bridge.transforms import AttentionShape, Layout, merge, shard

GENERATOR = torch.Generator().manual_seed(0)


def random(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=GENERATOR)


def round_trip(hf: tuple[torch.Tensor, ...], layout: Layout, tp: int, **kwargs) -> tuple[torch.Tensor, ...]:
    padded_rows = kwargs.pop("padded_rows", 0)
    shards = [shard(hf, layout, rank, tp, padded_rows=padded_rows, **kwargs) for rank in range(tp)]
    assert len({s.shape for s in shards}) == 1  # equal shards: what all_gather needs
    merged = merge(shards, layout, hf_rows=hf[0].shape[0], **kwargs)
    meta = merge([torch.empty_like(shards[0], device="meta")] * tp, layout, hf_rows=hf[0].shape[0], **kwargs)
    assert [t.shape for t in meta] == [t.shape for t in merged]
    return merged


CASES = [  # (layout, HF shapes, TP degrees, attention shape)
    (Layout.COLUMN, [(15, 7)], [1, 3, 5], None),
    (Layout.ROW, [(7, 15)], [1, 3, 5], None),
    (Layout.REPLICATED, [(11,)], [1, 3], None),
    (Layout.REPLICATED, [(5, 3, 2, 7, 7)], [1, 2], None),  # a patch-embedding conv kernel
    (Layout.GATE_UP, [(10, 7), (10, 7)], [1, 2, 5], None),
    (Layout.QKV, [(6 * 5, 7), (3 * 5, 7), (3 * 5, 7)], [1, 3], AttentionShape(6, 3, 5)),
    (Layout.QKV, [(6 * 5,), (3 * 5,), (3 * 5,)], [1, 3], AttentionShape(6, 3, 5)),  # the q/k/v biases
    (Layout.QKV, [(8 * 3, 9), (2 * 3, 9), (2 * 3, 9)], [1, 2], AttentionShape(8, 2, 3)),
]


@pytest.mark.parametrize(("layout", "shapes", "degrees", "attention"), CASES)
def test_shard_then_merge_is_the_identity(layout, shapes, degrees, attention):
    hf = tuple(random(*s) for s in shapes)
    for tp in degrees:
        merged = round_trip(hf, layout, tp, shape=attention)
        assert len(merged) == len(hf)
        assert all(torch.equal(a, b) for a, b in zip(merged, hf, strict=True)), f"{layout} at tp={tp}"


@pytest.mark.parametrize(("rows", "tp", "padded"), [(37, 1, 40), (37, 4, 40), (37, 8, 64), (480, 2, 512)])
def test_vocab_padding_is_added_then_cut(rows, tp, padded):
    embedding = random(rows, 6)
    shards = [shard((embedding,), Layout.VOCAB, r, tp, padded_rows=padded) for r in range(tp)]
    assert sum(s.shape[0] for s in shards) == padded
    assert torch.count_nonzero(torch.cat(shards)[rows:]) == 0  # padding rows are zeros
    assert torch.equal(round_trip((embedding,), Layout.VOCAB, tp, padded_rows=padded)[0], embedding)


def test_qkv_groups_stay_whole_on_each_rank():
    # 4 heads in 2 groups, head_dim 1: rank r of 2 holds [q of group r (2 rows), k_r, v_r].
    shape = AttentionShape(4, 2, 1)
    q, k, v = torch.arange(4.0)[:, None], 10 + torch.arange(2.0)[:, None], 20 + torch.arange(2.0)[:, None]
    assert shard((q, k, v), Layout.QKV, 1, 2, shape=shape).flatten().tolist() == [2.0, 3.0, 11.0, 21.0]
