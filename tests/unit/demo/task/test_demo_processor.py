"""The processor folder: loads offline, and Qwen2.5-VL's processor expands each image to its merged patches."""

import importlib.util
import json

import pytest

from megatron_mmupt.demo.task import load_processor_parts
from megatron_mmupt.demo.task.render import render

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


@pytest.fixture(scope="module")
def loaded(processor_dir):
    directory, _ = processor_dir
    return load_processor_parts(directory)


def test_folder_has_the_hf_files(processor_dir):
    directory, _ = processor_dir
    names = {p.name for p in directory.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "preprocessor_config.json"} <= names
    assert json.loads((directory / "processor_config.json").read_text())["processor_class"] == "Qwen2_5_VLProcessor"
    assert json.loads((directory / "tokenizer_config.json").read_text())["tokenizer_class"] == "Qwen2Tokenizer"
    assert (
        json.loads((directory / "preprocessor_config.json").read_text())["image_processor_type"]
        == "Qwen2VLImageProcessor"
    )


def test_loaded_tokenizer_is_the_trained_one(loaded, tokenizer):
    reloaded, _ = loaded
    assert type(reloaded).__name__ == "Qwen2Tokenizer"
    assert reloaded.get_vocab() == tokenizer.get_vocab()
    text = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>How many red circles? 12 × 3<|im_end|>"
    assert reloaded(text).input_ids == tokenizer(text).input_ids
    assert reloaded.chat_template == tokenizer.chat_template


def test_spec_matches_the_loaded_folder(loaded, processor_dir):
    tokenizer, image_processor = loaded
    _, spec = processor_dir
    assert spec.vocab_size == len(tokenizer)
    for name, token in [
        ("image_token_id", "<|image_pad|>"),
        ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"),
        ("vision_end_token_id", "<|vision_end|>"),
        ("eos_token_id", "<|im_end|>"),
        ("pad_token_id", "<|endoftext|>"),
    ]:
        assert getattr(spec, name) == tokenizer.convert_tokens_to_ids(token), name
    assert (spec.patch_size, spec.merge_size, spec.temporal_patch_size) == (14, 2, 2)
    assert (image_processor.patch_size, image_processor.merge_size) == (14, 2)
    assert spec.image_tokens == 16 and spec.min_pixels <= 112 * 112 <= spec.max_pixels


def test_image_processor_keeps_the_demo_image_size(loaded, task):
    _, image_processor = loaded
    image = render(task.problem(0, "test", 0).scene, 112)
    out = image_processor(images=[image], return_tensors="pt")
    # 112 / 14 = 8 patches a side, each 3 channels x 2 frames x 14 x 14 = 1176 values
    assert out["image_grid_thw"].tolist() == [[1, 8, 8]]
    assert tuple(out["pixel_values"].shape) == (64, 1176)


@pytest.fixture
def qwen_processor(loaded, monkeypatch, processor_dir):
    """transformers' own Qwen2_5_VLProcessor on the folder. With torchvision: ``AutoProcessor``. Without it,
    transformers 5.x cannot type-check the (absent) video processor slot; we skip only that check and
    construct the stock class with ``video_processor=None`` (images need no video processor)."""
    from transformers import AutoProcessor, Qwen2_5_VLProcessor
    from transformers.processing_utils import ProcessorMixin

    if HAS_TORCHVISION:
        return AutoProcessor.from_pretrained(str(processor_dir[0]), local_files_only=True)
    monkeypatch.setattr(ProcessorMixin, "check_argument_for_proper_class", lambda self, name, arg: type(arg))
    tokenizer, image_processor = loaded
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=tokenizer.chat_template,
    )


@pytest.mark.parametrize("image_size", [112, 56])
def test_qwen_processor_expands_image_pad_to_the_merged_patches(qwen_processor, processor_dir, task, image_size):
    _, spec = processor_dir
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many?"}]}]
    text = qwen_processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    image = render(task.problem(0, "test", 3).scene, image_size)
    out = qwen_processor(text=[text], images=[image], return_tensors="pt")
    t, h, w = out["image_grid_thw"][0].tolist()
    ids = out["input_ids"][0].tolist()
    expected = t * h * w // spec.merge_size**2
    assert ids.count(spec.image_token_id) == expected == (image_size // 28) ** 2
    start = ids.index(spec.vision_start_token_id)
    assert ids[start + 1 : start + 1 + expected] == [spec.image_token_id] * expected
    assert ids[start + 1 + expected] == spec.vision_end_token_id


@pytest.mark.skipif(HAS_TORCHVISION, reason="documents the CPU limitation; with torchvision AutoProcessor works")
def test_auto_processor_needs_torchvision(processor_dir):
    from transformers import AutoProcessor

    with pytest.raises(ImportError, match=r"[Tt]orchvision"):
        AutoProcessor.from_pretrained(str(processor_dir[0]), local_files_only=True)
