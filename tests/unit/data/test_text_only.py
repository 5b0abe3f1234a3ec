"""A text-only model's processor folder (tokenizer, no image processor): text prompts encode, image rows are bad."""

import shutil

import pytest
import torch

from megatron_mmupt.data.encoder import PromptEncoder
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.data.prompt_renderer import PromptConfig
from megatron_mmupt.data.types import BadRow, BadRowReason, Example


@pytest.fixture(scope="module")
def text_processors(demo_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("text-only") / "processor"
    shutil.copytree(demo_dir / "processor", folder)
    (folder / "preprocessor_config.json").unlink()
    (folder / "processor_config.json").unlink(missing_ok=True)
    return load_processors(folder)


def test_text_prompt_has_1d_positions_on_three_axes(text_processors):
    assert not text_processors.has_vision
    prompt = PromptEncoder(text_processors, PromptConfig(), ImageConfig()).encode(Example("q", "What is 2 + 3?"))
    n = prompt.num_tokens
    assert prompt.position_ids.shape == (3, n)
    assert torch.equal(prompt.position_ids, torch.arange(n).expand(3, n))
    assert prompt.pixel_values is None or prompt.pixel_values.numel() == 0


def test_image_rows_are_bad_rows(text_processors, png):
    encoder = PromptEncoder(text_processors, PromptConfig(), ImageConfig())
    with pytest.raises(BadRow) as error:
        encoder.encode(Example("q", "<image>How many?", images=(png(),)))
    assert error.value.reason is BadRowReason.IMAGES_UNSUPPORTED and "text-only" in str(error.value)
