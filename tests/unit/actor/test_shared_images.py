"""Rows of one prompt share its images: a micro-batch passes each image once and says which row uses which."""

import torch

from megatron_mmupt.actor.sequences import SequenceBatch


def batch(keys, images_per_row):
    n = len(keys)
    patches = [4 * k for k in images_per_row]
    # rows of one key carry the same pixels (as the samples of one prompt do); every image differs
    pixels = [
        10 * (ord(key) - ord("a")) + torch.arange(p, dtype=torch.float32) for key, p in zip(keys, patches, strict=True)
    ]
    return SequenceBatch(
        input_ids=torch.zeros(n, 3, dtype=torch.long),
        position_ids=torch.zeros(3, n, 3, dtype=torch.long),
        pixel_values=torch.cat(pixels)[:, None],
        image_grid_thw=torch.tensor([[1, 2, 2]] * sum(images_per_row)),
        response_mask=torch.zeros(n, 2, dtype=torch.bool),
        prompt_lengths=torch.ones(n, dtype=torch.long),
        response_lengths=torch.ones(n, dtype=torch.long),
        images_per_row=tuple(images_per_row),
        patches_per_row=tuple(patches),
        image_keys=tuple(keys),
    )


def test_each_image_is_passed_once_and_indexed_per_row():
    seqs = batch(["a", "a", "b", "c", "b"], [1, 1, 2, 0, 2])
    shared = seqs.model_inputs([0, 1, 2, 3, 4], share_images=True)
    # distinct rows 0 (1 image), 2 (2 images), 3 (none): images 0 | 1, 2
    assert shared["image_grid_thw"].shape[0] == 3 and shared["pixel_values"].shape[0] == 12
    assert shared["image_index"].tolist() == [0, 0, 1, 2, 1, 2]
    plain = seqs.model_inputs([0, 1, 2, 3, 4])
    assert "image_index" not in plain and plain["pixel_values"].shape[0] == 24
    expanded = shared["pixel_values"].view(3, 4)[shared["image_index"]].view(-1, 1)
    assert torch.equal(expanded, plain["pixel_values"])  # the same patches, row by row


def test_distinct_rows_need_no_index():
    seqs = batch(["a", "b"], [1, 1])
    assert "image_index" not in seqs.model_inputs([1, 0], share_images=True)
