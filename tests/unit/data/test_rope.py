"""Our 3-D rope ids against transformers' ``Qwen2_5_VLModel.get_rope_index`` (the reference implementation)."""

import pytest
import torch
from transformers import Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

from megatron_mmupt.data.rope import continue_positions, rope_position_ids

IMAGE, VSTART, VEND = 99, 97, 98
MERGE = 2


@pytest.fixture(scope="module")
def reference_model():
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                           spatial_merge_size=MERGE),
        image_token_id=IMAGE, video_token_id=96, vision_start_token_id=VSTART, vision_end_token_id=VEND,
    )  # fmt: skip
    return Qwen2_5_VLModel(config).eval()


def prompt(*parts):
    """Token ids from parts: ints are text tokens, (t, h, w) tuples are images (expanded)."""
    ids, grids = [], []
    for part in parts:
        if isinstance(part, tuple):
            ids += [VSTART] + [IMAGE] * (part[0] * part[1] * part[2] // MERGE**2) + [VEND]
            grids.append(part)
        else:
            ids.append(part)
    return torch.tensor(ids), torch.tensor(grids, dtype=torch.long).reshape(-1, 3)


CASES = {
    "one image first": (1, 2, (1, 4, 6), 3, 4, 5),
    "tall image": (1, (1, 10, 4), 7),
    "two images with text between": (1, (1, 4, 4), 2, 3, (1, 6, 8), 4),
    "image at the end": (5, 6, (1, 2, 2)),
    "text only": (1, 2, 3),
}


@pytest.mark.parametrize("parts", CASES.values(), ids=CASES.keys())
def test_matches_transformers_get_rope_index(reference_model, parts):
    ids, grids = prompt(*parts)
    ours, delta = rope_position_ids(ids, grids, IMAGE, MERGE)
    if len(grids) == 0:
        torch.testing.assert_close(ours, torch.arange(len(ids)).expand(3, -1))
        assert delta == 0
        return
    mm_types = (ids == IMAGE).int().unsqueeze(0)
    ref, ref_delta = reference_model.get_rope_index(ids.unsqueeze(0), mm_types, image_grid_thw=grids)
    torch.testing.assert_close(ours, ref[:, 0])
    assert delta == int(ref_delta)


def test_response_positions_continue_like_transformers_decoding(reference_model):
    # transformers decodes token i >= S at position i + rope_delta on every axis.
    ids, grids = prompt(1, (1, 4, 6), 2)
    positions, delta = rope_position_ids(ids, grids, IMAGE, MERGE)
    appended = continue_positions(delta, start=len(ids), length=3)
    assert appended[:, 0].tolist() == [int(positions.max()) + 1] * 3
    assert appended.shape == (3, 3) and (appended[:, 1:] - appended[:, :-1] == 1).all()


def test_token_count_mismatch_is_refused():
    ids, grids = prompt(1, (1, 4, 4), 2)
    with pytest.raises(ValueError, match="do not match 1 image"):
        rope_position_ids(ids[:-3], grids, IMAGE, MERGE)  # a truncated image
    with pytest.raises(ValueError, match="do not match 2 image"):
        rope_position_ids(ids, torch.cat([grids, grids]), IMAGE, MERGE)  # a grid without tokens
