"""SGLang server arguments from our config: the one function, its CLI form, and (where SGLang imports) that
every key is a real ``ServerArgs`` field."""

import json
import subprocess
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


def test_every_key_is_a_server_args_field_and_sglang_parses_it_back(sglang_env):
    # ServerArgs is a msgspec Struct in SGLang 0.5.23 (dataclasses.fields raises on it): its fields come from
    # msgspec.structs.fields. SGLang's own CLI parser must give back every value we pass, for both forms.
    code = (
        "import json, sys, msgspec, stubs; stubs.install()\n"
        "from sglang.srt.server_args import ServerArgs, prepare_server_args\n"
        "names = {f.name for f in msgspec.structs.fields(ServerArgs)}\n"
        "for argv, keys in json.loads(sys.argv[1]):\n"
        "    parsed = prepare_server_args(argv)\n"
        "    print(json.dumps({'unknown': sorted(set(keys) - names),\n"
        "                      'values': {k: getattr(parsed, k) for k in keys if k in names}}))\n"
    )
    cases = [args(), args(context_length=8192, deterministic_inference=True, disable_radix_cache=True)]
    payload = json.dumps([[cli_args(a), list(a)] for a in cases])
    run = subprocess.run([sys.executable, "-c", code, payload], env=sglang_env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    answers = [json.loads(line) for line in run.stdout.strip().splitlines()[-len(cases) :]]
    for sent, answer in zip(cases, answers, strict=True):
        assert answer == {"unknown": [], "values": sent}


def test_serve_takes_sglangs_model_flag_and_its_alias():
    from pathlib import Path

    from megatron_mmupt.cli import build_parser

    for flag in ("--model-path", "--model"):  # SGLang: --model-path, alias --model (arg_groups/fields/model.py)
        assert build_parser().parse_args(["serve", flag, "/m", "--port", "0"]).model_path == Path("/m")
