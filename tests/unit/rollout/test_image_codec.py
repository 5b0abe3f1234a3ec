"""Images on the wire: a prompt's patches -> PNG -> the engine's image processor gives the same patches."""

import base64

import pytest
import torch

from megatron_mmupt.rollout.sglang.image_codec import images_from_patches, load_image_item, to_data_uri
from megatron_mmupt.utils.errors import InputError


def test_patches_survive_the_round_trip_exactly(prompt_batch, processors):
    for prompt in prompt_batch:
        images = images_from_patches(prompt.pixel_values, prompt.image_grid_thw, processors.image_processor)
        decoded = [load_image_item(to_data_uri(image)) for image in images]
        again = processors.image_processor(images=decoded, return_tensors="pt")
        assert torch.equal(again["image_grid_thw"], prompt.image_grid_thw)
        assert torch.equal(again["pixel_values"], prompt.pixel_values)


def test_image_item_forms(prompt_batch, processors, tmp_path):
    prompt = prompt_batch.prompts[0]
    image = images_from_patches(prompt.pixel_values, prompt.image_grid_thw, processors.image_processor)[0]
    uri = to_data_uri(image)
    raw = uri.split(",", 1)[1]
    path = tmp_path / "x.png"
    path.write_bytes(base64.b64decode(raw))
    for item in (uri, raw, str(path), f"file://{path}", {"url": uri}):
        assert load_image_item(item).tobytes() == image.tobytes()
    for item, message in (
        ("https://example.com/a.png", "not fetched"),
        ("not base64!", "neither a path nor a decodable"),
        (str(tmp_path / "missing.png"), "does not exist"),
        (3, "must be strings"),
    ):
        with pytest.raises(InputError, match=message):
            load_image_item(item)


def test_mismatched_patches_are_refused(prompt_batch, processors):
    prompt = prompt_batch.prompts[0]
    with pytest.raises(InputError, match="do not match the grids"):
        images_from_patches(torch.cat([prompt.pixel_values] * 2), prompt.image_grid_thw, processors.image_processor)
