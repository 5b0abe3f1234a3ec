"""Memory formulas, per GPU, in bytes. Pure arithmetic on sizes; ``estimate.py`` applies them to a layout.

Model state (``actor/megatron/actor.py:_wrap``): weights in the parameter dtype; gradients in Megatron's fp32
main-grad buffer (``grad_reduce_in_fp32=True``) for every trainable parameter; Adam's state: the fp32 master
copy (bf16 parameters only), ``exp_avg`` and ``exp_avg_sq``, i.e. 12 bytes per trainable parameter in bf16
(8 in fp32), divided over the data-parallel ranks by the distributed optimizer (ZeRO-1); the frozen reference
model of the KL term: weights only.

Activations saved for backward by one transformer layer, per token, in elements (Korthikanti et al. 2022,
"Reducing Activation Recomputation in Large Transformer Models", eq. 2 with tensor parallelism and no
sequence parallelism, ``sbh(10 + 24/t + 5as/(ht))`` bytes, rewritten for this model family):

    4h                         inputs of the two norms, of linear_qkv and of linear_fc1 (replicated over TP)
  + (2 q + 2 kv + m f) / t     Q, K, V and the attention output; the MLP's fc1 output and activation output
                               (m = 3 for SwiGLU: gate|up and their product; 2 for a plain MLP)
  + a s / t                    softmax probabilities, only where attention is not fused (``actor.spec=local``)

with h hidden, q = heads x head_dim, kv = kv_heads x head_dim, f the MLP width, a heads, s the sequence
length, t the tensor-parallel size. With fewer KV heads than t, each rank keeps one whole KV head (Megatron
shares it among t / kv_heads ranks), so ``estimate`` passes ``kv = head_dim x t``. Against the paper's GPT
layer (q = kv = h, f = 4h, GeLU, dropout) the differences are: no dropout masks or dropout outputs (the actor trains with dropout 0: the paper's 2sbh and
2as^2b terms vanish), GQA (K and V are ``kv`` wide), and SwiGLU (three f-wide tensors instead of two).
Recompute: ``selective`` keeps the layer but not the softmax term; ``full`` keeps only each layer's input
(``h`` per token) plus, while one layer is recomputed in backward, that layer's full set.
"""

from __future__ import annotations

import math

GIB = 1 << 30
FP32_BYTES = 4
LOGIT_BYTES = 10
"""Per logit element on the last stage: Megatron's bf16 output (2), its fp32 copy (``Float16Module``), kept by
the log-prob function for backward (4), and the fp32 gradient (4)."""


def transformer_layer_activations(
    *,
    hidden: int,
    q_size: int,
    kv_size: int,
    ffn_size: int,
    gated: bool,
    tensor_degree: int = 1,
    score_heads: int = 0,
    seq_len: int = 0,
) -> float:
    """Elements one layer saves for backward, **per token** (see the module docstring).

    ``score_heads``: attention heads whose softmax probabilities are stored (0 for fused attention); each
    stores ``seq_len`` values per token, split over TP like the heads.
    """
    split = 2 * q_size + 2 * kv_size + (3 if gated else 2) * ffn_size
    return 4 * hidden + (split + score_heads * seq_len) / tensor_degree


def model_state_bytes(
    *, params: int, trainable: int, param_bytes: int, data_degree: int, distributed_optimizer: bool
) -> tuple[int, int, int]:
    """``(weights, gradients, optimizer state)`` of one GPU holding ``params`` parameters."""
    weights = params * param_bytes
    gradients = trainable * FP32_BYTES  # Megatron's main-grad buffer is fp32 whatever the parameter dtype
    adam = 2 * FP32_BYTES + (FP32_BYTES if param_bytes < FP32_BYTES else 0)  # m, v (+ fp32 master weights)
    shards = data_degree if distributed_optimizer else 1
    return weights, gradients, math.ceil(trainable * adam / shards)


def kv_cache_bytes_per_token(*, num_layers: int, kv_heads: int, head_dim: int, tensor_degree: int,
                             dtype_bytes: int = 2) -> int:  # fmt: skip
    """K and V of one token on one GPU of an engine at ``tensor_degree``.

    An engine whose TP exceeds the KV heads replicates them: every GPU keeps at least one head.
    """
    heads_per_gpu = math.ceil(kv_heads / tensor_degree)
    return num_layers * 2 * heads_per_gpu * head_dim * dtype_bytes


def group_tokens(*, prompt_tokens: int, response_tokens: int, samples: int, prefix_cache: bool) -> int:
    """KV tokens of one GRPO group at full length: its prompt once (the prefix cache shares it), ``n`` responses."""
    if prefix_cache:
        return prompt_tokens + samples * response_tokens
    return samples * (prompt_tokens + response_tokens)


def sglang_kv_pool(*, gpu_memory: int, mem_fraction_static: float, used_before_pool: int) -> int:
    """SGLang's KV pool on one GPU: ``free memory after loading - gpu_memory x (1 - mem_fraction_static)``.

    SGLang (``model_runner.profile_max_num_token``) measures free memory after its weights are loaded, so
    whatever else holds the GPU (a colocated actor's state, CUDA contexts) comes out of the pool: in effect
    everything together stays within ``mem_fraction_static x gpu_memory``, the rest is left for SGLang's own
    activations and CUDA graphs.
    """
    return int(gpu_memory * mem_fraction_static) - used_before_pool


def images_per_micro_batch(*, micro_batch_size: int, data_degree: int, samples: int) -> int:
    """Distinct images (one per prompt) in a micro-batch: the actor encodes each once per micro-batch.

    A data-parallel rank takes every ``data_degree``-th sequence, and the ``samples`` sequences of a prompt are
    consecutive, so ``b`` sequences of one rank span ``(b - 1) x dp + 1`` consecutive sequences, which touch at
    most ``ceil((b - 1) x dp / n) + 1`` prompts.
    """
    return min(micro_batch_size, math.ceil((micro_batch_size - 1) * data_degree / samples) + 1)


def patches_per_image(*, max_pixels: int | None, patch_size: int, merge_size: int, max_prompt_tokens: int) -> int:
    """Vision-tower tokens of the largest image: the pixel cap in patches, and no more than the prompt allows
    (prompts longer than ``max_prompt_tokens``, image tokens included, are dropped; a token merges
    ``merge_size^2`` patches)."""
    by_prompt = max_prompt_tokens * merge_size**2
    return by_prompt if max_pixels is None else min(max_pixels // patch_size**2, by_prompt)
