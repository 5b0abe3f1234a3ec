"""SGLang's ``ServerArgs`` from our typed config: one explicit function, no attribute-copying loop.

    kwargs = server_args(config, host="10.0.0.3", port=30000, random_seed=1)
    sglang.srt.server_args.ServerArgs(**kwargs)            # or sglang.Engine(**kwargs)
    ["python", "-m", "sglang.launch_server", *cli_args(kwargs)]

Every key is a ``ServerArgs`` field of SGLang 0.5.23 (checked by ``tests/unit/rollout/test_sglang_args.py``
where SGLang imports); the CLI flag is the field name with ``-`` for ``_`` (``arg_groups/arg_utils.py``).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Literal

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice, check_positive, check_range


@dataclasses.dataclass(kw_only=True, slots=True)
class SGLangConfig(ConfigNode):
    """One SGLang server: the model and how it uses its GPUs."""

    model_path: str = ""
    """HF model folder or hub name, as the server's host sees it."""
    tp_size: int = 1
    """GPUs per engine (tensor parallel); weight-sync endpoints need ``dp_size == 1``, so scale out by engines."""
    mem_fraction_static: float | None = None
    """Share of GPU memory for weights and KV cache; ``None`` lets SGLang choose. Colocated runs need room for
    the trainer: 0.5-0.7 is usual."""
    context_length: int | None = None
    """Longest prompt + response; ``None`` takes the model config's."""
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "bfloat16"
    """Weights and activations (``auto``: the checkpoint's)."""
    chunked_prefill_size: int | None = None
    """Prefill chunk in tokens; ``None``: SGLang's choice, -1 disables chunking."""
    max_running_requests: int | None = None
    """Concurrent requests per engine; ``None``: SGLang's choice."""
    enable_memory_saver: bool = True
    """Needed by ``release_memory_occupation`` / ``resume_memory_occupation`` (colocated mode)."""
    disable_radix_cache: bool = False
    """Turn off prefix caching (the n samples of a prompt share its prefix through it)."""
    deterministic_inference: bool = False
    """Batch-invariant kernels; makes ``sampling_seed`` effective (slower)."""
    log_level: Literal["debug", "info", "warning", "error"] = "warning"

    def __post_init__(self) -> None:
        check_positive("tp_size", self.tp_size)
        if self.mem_fraction_static is not None:
            check_range("mem_fraction_static", self.mem_fraction_static, 0.05, 0.98)
        if self.context_length is not None:
            check_positive("context_length", self.context_length)
        check_choice("dtype", self.dtype, ("auto", "bfloat16", "float16", "float32"))
        check_choice("log_level", self.log_level, ("debug", "info", "warning", "error"))


def server_args(
    config: SGLangConfig,
    *,
    host: str,
    port: int,
    random_seed: int,
    base_gpu_id: int = 0,
    nccl_port: int | None = None,
) -> dict[str, Any]:
    """``ServerArgs`` keyword arguments of one engine; ``None`` values are left to SGLang's defaults.

    ``base_gpu_id`` is relative to the visible GPUs (0 inside a Ray actor, which sees only its own).
    ``weight_version`` starts at ``"0"`` so that versions read back as integers (``meta_info.weight_version``).
    """
    if not config.model_path:
        raise ConfigError("sglang.model_path is empty; set it to the HF model folder")
    args: dict[str, Any] = {
        "model_path": config.model_path,
        "tp_size": config.tp_size,
        "dp_size": 1,
        "host": host,
        "port": port,
        "base_gpu_id": base_gpu_id,
        "random_seed": random_seed,
        "dtype": config.dtype,
        "mem_fraction_static": config.mem_fraction_static,
        "context_length": config.context_length,
        "chunked_prefill_size": config.chunked_prefill_size,
        "max_running_requests": config.max_running_requests,
        "enable_memory_saver": config.enable_memory_saver,
        "disable_radix_cache": config.disable_radix_cache,
        "enable_deterministic_inference": config.deterministic_inference,
        "nccl_port": nccl_port,
        "weight_version": "0",
        "trust_remote_code": True,
        "skip_server_warmup": True,
        "log_level": config.log_level,
    }
    return {k: v for k, v in args.items() if v is not None}


def cli_args(args: dict[str, Any]) -> list[str]:
    """``--field-name value`` per entry; booleans are flags (present when True, absent when False)."""
    out: list[str] = []
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            out += [flag] if value else []
        else:
            out += [flag, str(value)]
    return out


def launch_command(args: dict[str, Any]) -> list[str]:
    """The command that starts one SGLang HTTP server with ``args``."""
    return [sys.executable, "-m", "sglang.launch_server", *cli_args(args)]
