"""SGLang server arguments from our config: the one function, its CLI form, and (where SGLang imports) that
every key is a real ``ServerArgs`` field."""

import dataclasses
import sys

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.rollout.sglang.args import SGLangConfig, cli_args, launch_command, server_args


def args(**overrides):
    config = SGLangConfig(model_path="/models/Qwen2.5-VL-7B-Instruct", tp_size=2, mem_fraction_static=0.6, **overrides)
    return server_args(config, host="10.0.0.3", port=30001, random_seed=5, nccl_port=40000)


def test_server_args_are_explicit_and_complete():
    assert args() == {
        "model_path": "/models/Qwen2.5-VL-7B-Instruct",
        "tp_size": 2,
        "dp_size": 1,  # weight-sync endpoints assert dp_size == 1
        "host": "10.0.0.3",
        "port": 30001,
        "base_gpu_id": 0,
        "random_seed": 5,
        "dtype": "bfloat16",
        "mem_fraction_static": 0.6,
        "enable_memory_saver": True,
        "disable_radix_cache": False,
        "enable_deterministic_inference": False,
        "nccl_port": 40000,
        "weight_version": "0",
        "trust_remote_code": True,
        "skip_server_warmup": True,
        "log_level": "warning",
    }


def test_cli_flags_follow_sglang_naming():
    argv = cli_args(args(context_length=8192))
    assert argv[:4] == ["--model-path", "/models/Qwen2.5-VL-7B-Instruct", "--tp-size", "2"]
    assert "--enable-memory-saver" in argv and "--disable-radix-cache" not in argv  # booleans are flags
    assert argv[argv.index("--context-length") + 1] == "8192"
    assert launch_command(args())[:3] == [sys.executable, "-m", "sglang.launch_server"]


def test_config_is_validated():
    with pytest.raises(ConfigError, match="mem_fraction_static=0.99 is out of range"):
        SGLangConfig(mem_fraction_static=0.99)
    with pytest.raises(ConfigError, match="model_path is empty"):
        server_args(SGLangConfig(), host="h", port=1, random_seed=0)


@pytest.mark.sglang
def test_every_key_is_a_server_args_field():
    server_args_module = pytest.importorskip("sglang.srt.server_args", reason="sglang is not installed here")
    fields = {f.name for f in dataclasses.fields(server_args_module.ServerArgs)}
    assert set(args()) <= fields
