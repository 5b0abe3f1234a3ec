"""Build the Megatron-Core Qwen2.5-VL (or Qwen2) for this rank's place in the parallel layout, then move it to the
rank's device (it is built in host memory: ``config_bridge`` sets ``use_cpu_initialization``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.actor.megatron.config_bridge import text_config, transformer_config
from megatron_mmupt.actor.megatron.distributed import ParallelGroups
from megatron_mmupt.actor.megatron.qwen2_5_vl import Qwen2_5_VLModel
from megatron_mmupt.actor.megatron.specs import SpecName, layer_spec, resolve_spec
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.parallel.config import ParallelConfig


def load_hf_config(model_dir: str | Path) -> Any:
    from transformers import AutoConfig

    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise ConfigError(f"no config.json in {model_dir}; pass a Hugging Face model folder")
    return AutoConfig.from_pretrained(str(path))


def build_model(
    hf_config: Any,
    parallel: ParallelConfig,
    groups: ParallelGroups,
    *,
    params_dtype: torch.dtype = torch.float32,
    spec: SpecName = "auto",
    recompute: str = "none",
) -> Qwen2_5_VLModel:
    """The model chunk of this rank (``init_parallel`` must have run), randomly initialized.

    Weights come from the bridge (``bridge.load_hf_weights``) or a dist-checkpoint.
    """
    config = transformer_config(hf_config, parallel, params_dtype=params_dtype, recompute=recompute)
    vocab = parallel.padded_vocab_size(text_config(hf_config).vocab_size)
    return Qwen2_5_VLModel(
        config,
        hf_config,
        layer_spec(resolve_spec(spec)),
        vocab_size=vocab,
        pre_process=groups.is_first_stage,
        post_process=groups.is_last_stage,
    )


def move_to_device(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Every parameter and buffer of ``model`` on ``device``, the rope frequencies too.

    Megatron's ``MultimodalRotaryEmbedding`` keeps ``inv_freq`` as a plain attribute made on
    ``torch.cuda.current_device()`` whatever ``use_cpu_initialization`` says, and ``Module.to`` skips it.
    """
    model.to(device)
    for module in model.modules():
        inv_freq = getattr(module, "inv_freq", None)
        if isinstance(inv_freq, torch.Tensor) and "inv_freq" not in module._buffers:
            module.inv_freq = inv_freq.to(device)
    return model
