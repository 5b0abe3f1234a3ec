"""The GPU check's pure parts: a failing section is recorded and the rest run; card peaks; the MFU formula."""

from __future__ import annotations

import json

import pytest

from megatron_mmupt.gpu_check.grpo import forward_flops_per_token
from megatron_mmupt.gpu_check.report import render_table, run_section, write_report
from megatron_mmupt.gpu_check.workload import CPU, GPU, bf16_peak_flops, model_config
from megatron_mmupt.planner.model_shape import PRESETS
from megatron_mmupt.planner.params import decoder_layer_params


def test_a_raising_section_is_recorded_and_the_next_still_runs(tmp_path):
    def broken():
        raise RuntimeError("CUDA error: an illegal memory access")

    results = [
        run_section("parity", broken, log=lambda _: None),
        run_section("ipc", lambda: ({"bit_exact": True, "ipc_gb_per_s": float("nan")}, []), log=lambda _: None),
        run_section(
            "engine", lambda: ({"tokens_per_second": 0.0}, ["the engine generated no tokens"]), log=lambda _: None
        ),
    ]
    assert [r.status for r in results] == ["error", "passed", "failed"]
    assert "illegal memory access" in results[0].traceback
    report = write_report(tmp_path / "r.json", {"mode": "cpu"}, results)
    assert report["passed"] is False
    saved = json.loads((tmp_path / "r.json").read_text())  # strict JSON: NaN became null
    assert saved["sections"]["ipc"]["figures"]["ipc_gb_per_s"] is None
    assert saved["sections"]["engine"]["problems"] == ["the engine generated no tokens"]
    assert "| ipc | passed |" in render_table(results)
    # Rewritten after each section: until the run ends, a report of passed sections has not passed.
    partial = write_report(tmp_path / "p.json", {"complete": False}, results[1:2])
    assert partial["passed"] is False


@pytest.mark.parametrize(
    ("name", "tflops"),
    [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.0), ("NVIDIA H200", 989.0),
     ("NVIDIA GH200 480GB", 989.0),
     ("NVIDIA A100-SXM4-80GB", 312.0), ("cpu", None), ("NVIDIA L4", None)],
)  # fmt: skip
def test_bf16_peak_by_card_name(name, tflops):
    peak = bf16_peak_flops(name)
    assert peak == (tflops * 1e12 if tflops else None)


def test_gpu_workload_has_qwen2_5_vl_7b_widths():
    seven_b = PRESETS["7b"].text
    assert (GPU.hidden_size, GPU.num_heads, GPU.num_kv_heads, GPU.intermediate_size, GPU.vocab_size) == (
        seven_b.hidden_size, seven_b.num_attention_heads, seven_b.num_key_value_heads, seven_b.intermediate_size,
        seven_b.vocab_size,
    )  # fmt: skip
    config = model_config(GPU)
    assert config["text_config"]["num_hidden_layers"] == len(config["text_config"]["layer_types"]) == 2
    assert sum(config["text_config"]["rope_parameters"]["mrope_section"]) * 2 == GPU.hidden_size // GPU.num_heads
    assert config["vision_config"]["out_hidden_size"] == GPU.hidden_size


@pytest.mark.parametrize("workload", [GPU, CPU], ids=["gpu", "cpu"])
def test_mfu_matmul_weights_are_the_planners_layer_weights(workload):
    # F = 2P + 4LqS: at S = 0 only the matmul weights remain; they are the planner's layer parameters without
    # q/k/v biases and norms, plus the LM head.
    shape = PRESETS["7b"].text.__class__(
        num_layers=workload.num_layers, hidden_size=workload.hidden_size, intermediate_size=workload.intermediate_size,
        num_attention_heads=workload.num_heads, num_key_value_heads=workload.num_kv_heads,
        vocab_size=workload.vocab_size, head_dim=workload.hidden_size // workload.num_heads, tie_word_embeddings=False,
    )  # fmt: skip
    layer = decoder_layer_params(shape) - (shape.q_size + 2 * shape.kv_size) - 2 * shape.hidden_size
    params = workload.num_layers * layer + workload.vocab_size * workload.hidden_size
    assert forward_flops_per_token(workload, 0) == 2 * params
    head_dim = workload.hidden_size // workload.num_heads
    attention = forward_flops_per_token(workload, 100) - forward_flops_per_token(workload, 0)
    assert attention == 4 * workload.num_layers * workload.num_heads * head_dim * 100


def test_ipc_bit_exactness_compares_bytes_not_values():
    import torch

    from megatron_mmupt.gpu_check.workload import same_bytes

    zeros = torch.tensor([0.0, 1.5], dtype=torch.bfloat16)
    assert same_bytes(zeros, zeros.clone())
    assert not same_bytes(zeros, torch.tensor([-0.0, 1.5], dtype=torch.bfloat16))  # equal values, other bits
    assert not same_bytes(torch.zeros(2, 3), torch.zeros(3, 2))
