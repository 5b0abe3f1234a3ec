"""The memory formulas on hand-computed numbers."""

import pytest

from megatron_mmupt.planner import memory


def test_model_state_bf16_and_fp32():
    # bf16: 2 bytes of weights, 4 of fp32 main grads, 12 of Adam (fp32 master, m, v) per trainable parameter.
    assert memory.model_state_bytes(
        params=1900, trainable=1040, param_bytes=2, data_degree=2, distributed_optimizer=False
    ) == (3800, 4160, 12480)
    # The distributed optimizer shards Adam's state over the 2 data-parallel ranks; nothing else.
    assert memory.model_state_bytes(
        params=1900, trainable=1040, param_bytes=2, data_degree=2, distributed_optimizer=True
    ) == (3800, 4160, 6240)
    # fp32 parameters are their own master copy: 8 bytes of Adam.
    assert memory.model_state_bytes(
        params=1900, trainable=1900, param_bytes=4, data_degree=1, distributed_optimizer=True
    ) == (7600, 7600, 15200)


def test_layer_activations_per_token():
    # h=8, q=8, kv=4, f=16 (SwiGLU), TP 2: 4*8 replicated + (2*8 + 2*4 + 3*16) / 2 = 32 + 36.
    dims = dict(hidden=8, q_size=8, kv_size=4, ffn_size=16, gated=True, tensor_degree=2)
    assert memory.transformer_layer_activations(**dims) == 68
    # Unfused attention keeps 4 heads x 10 positions of softmax per token, split over TP: + 20.
    assert memory.transformer_layer_activations(**dims, score_heads=4, seq_len=10) == 88
    # A plain MLP keeps two f-wide tensors: 32 + (24 + 32) / 2.
    assert memory.transformer_layer_activations(**{**dims, "gated": False}) == 60


def test_korthikanti_gpt_layer_without_dropout():
    # The paper's GPT layer, sbh(10 + 24/t + 5as/(ht)) bytes at 16 bits, less its dropout terms (2sbh for the two
    # masks, 3as^2b for the attention-dropout mask and output) and with a GeLU MLP (f = 4h, two f-wide tensors).
    h, a, s, t = 64, 8, 32, 2
    ours = memory.transformer_layer_activations(
        hidden=h, q_size=h, kv_size=h, ffn_size=4 * h, gated=False, tensor_degree=t, score_heads=a, seq_len=s
    )  # elements per token
    paper_bytes = h * (10 + 24 / t + 5 * a * s / (h * t)) - 2 * h - 3 * a * s / t
    assert 2 * ours == pytest.approx(paper_bytes)


def test_kv_cache_per_token():
    # 4 layers x (K, V) x 1 head of 2 per GPU at TP 2 x 2 bytes.
    assert memory.kv_cache_bytes_per_token(num_layers=4, kv_heads=2, head_dim=2, tensor_degree=2) == 32
    assert memory.kv_cache_bytes_per_token(num_layers=4, kv_heads=2, head_dim=2, tensor_degree=1) == 64
    # TP above the KV heads replicates them: still one head per GPU.
    assert memory.kv_cache_bytes_per_token(num_layers=4, kv_heads=2, head_dim=2, tensor_degree=8) == 32
    # Qwen2.5-VL-7B at TP 4: 28 layers x 2 x 1 head of 128 x 2 bytes = 14 KiB.
    assert memory.kv_cache_bytes_per_token(num_layers=28, kv_heads=4, head_dim=128, tensor_degree=4) == 14 * 1024


def test_group_tokens_and_pool():
    assert memory.group_tokens(prompt_tokens=6, response_tokens=4, samples=4, prefix_cache=True) == 22
    assert memory.group_tokens(prompt_tokens=6, response_tokens=4, samples=4, prefix_cache=False) == 40
    gib = memory.GIB
    assert memory.sglang_kv_pool(gpu_memory=80 * gib, mem_fraction_static=0.5, used_before_pool=30 * gib) == 10 * gib


def test_images_per_micro_batch():
    # 4 sequences of one DP rank out of 2: 7 consecutive sequences, which touch at most 2 groups of 10.
    assert memory.images_per_micro_batch(micro_batch_size=4, data_degree=2, samples=10) == 2
    assert memory.images_per_micro_batch(micro_batch_size=1, data_degree=64, samples=10) == 1
    # Groups smaller than the micro-batch: never more images than sequences.
    assert memory.images_per_micro_batch(micro_batch_size=4, data_degree=8, samples=2) == 4


def test_patches_per_image():
    # The pixel cap in 14-px patches (1536*28*28 px -> 6144), unless the prompt cap is lower (2048 tokens x 4).
    cap = 1536 * 28 * 28
    assert memory.patches_per_image(max_pixels=cap, patch_size=14, merge_size=2, max_prompt_tokens=2048) == 6144
    assert memory.patches_per_image(max_pixels=cap, patch_size=14, merge_size=2, max_prompt_tokens=1024) == 4096
    assert memory.patches_per_image(max_pixels=None, patch_size=14, merge_size=2, max_prompt_tokens=100) == 400
