"""What the GPU check runs on: the model's sizes, its Hugging Face folder, the prompts, the device.

The GPU machines have no hub and no dataset: the model is randomly initialized from sizes, and its tokenizer
and image processor are the shipped demo model's (``examples/demo_base_model``), so prompts encode through the
data stage exactly as in training. Random weights are enough for every figure the check owes: speed, memory
and numerical parity do not depend on what the weights have learned.

``GPU`` is Qwen2.5-VL-7B's width (hidden 3584, 28 heads, 4 KV heads, MLP 18944, vocab 152064, vision tower
1280 wide) with 2 decoder layers and 2 vision blocks: about 1.6 B parameters, 29 GB of actor state in bf16 with
Adam, so the actor, its KL reference and the activations fit one 80 GB card with room to spare, and building it
twice (parity, then the actor) stays within the check's time. ``CPU`` is the demo model's size.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path
from typing import Any, Literal

import torch

from megatron_mmupt.models.tiny_qwen2_5_vl import PROCESSOR_FILES as TINY_PROCESSOR_FILES

REPO = Path(__file__).resolve().parents[2]
PROCESSOR_SOURCE = REPO / "examples" / "demo_base_model"
"""Tokenizer, chat template and image processor of every model the check builds (no hub on GPU machines)."""
PROCESSOR_FILES = (*TINY_PROCESSOR_FILES, "generation_config.json")

DONE_MARKER = "gpu_check_model.json"
"""Written after the weights: the sizes of a complete folder, so a rerun with the same ``--work`` reuses it."""

BF16_PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "H200": 989.0, "A100": 312.0}
"""Dense bf16 peak of each card by a substring of ``torch.cuda.get_device_name`` (NVIDIA's data sheets: the SXM
H100, the H200 and the GH200 share 989 TFLOP/s; the PCIe and NVL H100 run lower clocks). The first match in this
order wins; an unknown card reports no MFU."""


@dataclasses.dataclass(frozen=True, slots=True)
class Workload:
    """Sizes and lengths of one check. Text sizes follow Qwen2.5-VL's ``text_config``, vision its ``vision_config``."""

    mode: Literal["gpu", "cpu"]
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    num_layers: int
    vocab_size: int
    mrope_section: tuple[int, int, int]
    rope_theta: float
    vision_hidden_size: int
    vision_intermediate_size: int
    vision_heads: int
    vision_depth: int
    image_side: int
    """Pixels per side of each prompt's image: (side / 28)^2 image tokens."""
    num_prompts: int
    samples: int
    """Samples per prompt (GRPO's group size n)."""
    response_tokens: int
    """Length of every response of the GRPO step."""
    micro_batch_size: int
    engine_new_tokens: int
    """``max_new_tokens`` of the engine section."""
    bucket_bytes: int
    """Bytes of the weight bucket of the IPC section (the weight sync's default bucket on GPU)."""
    device_strict: bool = False
    """CPU only: the actor sections run under the device-strict shim (``actor/megatron/device_strict``) with the
    actor's device a logical ``cuda:0``, so a tensor the GPU run would leave on the host raises here too."""

    @property
    def device(self) -> torch.device:
        """Where the actor's models and inputs belong (the GPU; in device-strict mode the logical one)."""
        return torch.device("cuda", 0) if self.device_strict else self.real_device

    @property
    def real_device(self) -> torch.device:
        """Where data really is: model folder, engine, IPC bucket (no strict shim covers those)."""
        return torch.device("cuda", torch.cuda.current_device()) if self.mode == "gpu" else torch.device("cpu")


GPU = Workload(
    mode="gpu", hidden_size=3584, intermediate_size=18944, num_heads=28, num_kv_heads=4, num_layers=2,
    vocab_size=152064, mrope_section=(16, 24, 24), rope_theta=1e6, vision_hidden_size=1280,
    vision_intermediate_size=3420, vision_heads=16, vision_depth=2, image_side=448, num_prompts=2, samples=8,
    response_tokens=512, micro_batch_size=4, engine_new_tokens=256, bucket_bytes=256 << 20,
)  # fmt: skip
CPU = Workload(
    mode="cpu", hidden_size=128, intermediate_size=384, num_heads=4, num_kv_heads=2, num_layers=2, vocab_size=512,
    mrope_section=(4, 6, 6), rope_theta=1e4, vision_hidden_size=64, vision_intermediate_size=128, vision_heads=2,
    vision_depth=2, image_side=56, num_prompts=2, samples=8, response_tokens=16, micro_batch_size=4,
    engine_new_tokens=16, bucket_bytes=4 << 20,
)  # fmt: skip


def device_name(workload: Workload) -> str:
    return torch.cuda.get_device_name() if workload.mode == "gpu" else "cpu"


def bf16_peak_flops(name: str) -> float | None:
    """The card's dense bf16 peak in FLOP/s, or ``None`` when the card is unknown (or the CPU)."""
    for key, tflops in BF16_PEAK_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def synchronize(workload: Workload) -> None:
    """Wait for the device: timings must include the kernels, not just their launch."""
    if workload.mode == "gpu":
        torch.cuda.synchronize()


def same_bytes(x: torch.Tensor, y: torch.Tensor) -> bool:
    """Bit for bit (``torch.equal`` alone would take -0.0 for 0.0), same dtype and shape."""
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    return torch.equal(x.contiguous().view(torch.uint8), y.contiguous().view(torch.uint8))


def model_config(workload: Workload) -> dict[str, Any]:
    """The shipped demo model's ``config.json`` (its token ids) with the workload's sizes."""
    config = json.loads((PROCESSOR_SOURCE / "config.json").read_text())
    text, vision = config["text_config"], config["vision_config"]
    text.update(
        hidden_size=workload.hidden_size, intermediate_size=workload.intermediate_size,
        num_attention_heads=workload.num_heads, num_key_value_heads=workload.num_kv_heads,
        num_hidden_layers=workload.num_layers, layer_types=["full_attention"] * workload.num_layers,
        vocab_size=workload.vocab_size, max_position_embeddings=4096,
    )  # fmt: skip
    text["rope_parameters"] = {
        "rope_type": "default", "rope_theta": workload.rope_theta, "mrope_section": list(workload.mrope_section),
    }  # fmt: skip
    vision.update(
        hidden_size=workload.vision_hidden_size, intermediate_size=workload.vision_intermediate_size,
        num_heads=workload.vision_heads, depth=workload.vision_depth, out_hidden_size=workload.hidden_size,
        fullatt_block_indexes=[workload.vision_depth - 1],
    )  # fmt: skip
    for part in (config, text, vision):
        part["dtype"] = "bfloat16"
    return config


def make_model_folder(workload: Workload, out: Path) -> Path:
    """A randomly initialized Qwen2.5-VL of the workload's sizes, in bf16, as a Hugging Face folder.

    Built on the device: initializing 1.6 B parameters there takes a fraction of a second, on 16 CPU cores
    several seconds. A complete folder of the same sizes is reused (``--work`` of an earlier run).
    """
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    config_text = json.dumps(model_config(workload), indent=2) + "\n"
    done = out / DONE_MARKER
    if done.is_file() and done.read_text() == config_text:
        return out  # a rerun with --work: the same sizes were written completely before
    out.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    for name in PROCESSOR_FILES:
        shutil.copy2(PROCESSOR_SOURCE / name, out / name)
    (out / "config.json").write_text(config_text)
    config = AutoConfig.from_pretrained(str(out))
    torch.manual_seed(0)
    with torch.device(workload.real_device):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    model.save_pretrained(str(out))
    del model
    done.write_text(config_text)  # last: a folder interrupted while saving is rebuilt
    return out


def make_prompts(workload: Workload, model_dir: Path) -> list[Any]:
    """``num_prompts`` encoded prompts, each with one ``image_side``-pixel image, through the data stage."""
    from PIL import Image, ImageDraw

    from megatron_mmupt.data.encoder import PromptEncoder
    from megatron_mmupt.data.images import ImageConfig
    from megatron_mmupt.data.processing import load_processors
    from megatron_mmupt.data.prompt_renderer import PromptConfig
    from megatron_mmupt.data.types import Example

    side = workload.image_side
    encoder = PromptEncoder(
        load_processors(model_dir), PromptConfig(), ImageConfig(min_pixels=side * side, max_pixels=side * side)
    )
    prompts = []
    for i in range(workload.num_prompts):
        image = Image.new("RGB", (side, side), "white")
        ImageDraw.Draw(image).ellipse((side // 8, side // 8, side // 2, side // 2), fill=(200, 30 * i, 30))
        png = io.BytesIO()
        image.save(png, format="PNG")
        question = f"<image>How many red circles are there? Think step by step ({i})."
        prompts.append(encoder.encode(Example(f"gpu-check-{i}", question, images=(png.getvalue(),))))
    return prompts


def response_token_range(model_dir: Path) -> int:
    """Token ids below this are ordinary text tokens (the demo tokenizer puts its special tokens last)."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    specials = [config["image_token_id"], config["video_token_id"], config["vision_start_token_id"]]
    specials += [config["text_config"]["eos_token_id"], config["text_config"]["pad_token_id"]]
    return min(specials)
