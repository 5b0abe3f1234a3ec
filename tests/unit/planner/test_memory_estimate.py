"""The estimate of the small made-up run, computed by hand (conftest: TP 2 x PP 2 x DP 2 on 8 GPUs, colocated).

Shared numbers: 16 sequences per optimizer step, 8 per DP rank, micro-batches of 2 sequences of 10 tokens
(20 tokens) -> 4 micro-batches; padded vocabulary 104 (52 per TP rank); stage 0 holds 1040 language + 860
vision parameters, stage 1 holds 1048 language parameters (test_param_counts.py).
"""

import pytest

from megatron_mmupt.planner import cluster_shape
from megatron_mmupt.planner.estimate import RUNTIME_RESERVE, actor_memory, estimate_memory
from megatron_mmupt.planner.layout import plan_layout
from megatron_mmupt.planner.memory import GIB


def layout_of(config, small, nodes=1, gpus=8):
    return plan_layout(config, small, cluster_shape(config, nodes=nodes, gpus_per_node=gpus))


def test_first_stage(small, small_run):
    config = small_run()
    stage = actor_memory(config, small, layout_of(config, small).actor, 0)
    # bf16 weights 2 x 1900, fp32 grads 4 x 1900, Adam 12 x 1900, the KL reference model 2 x 1900.
    assert (stage.weights, stage.gradients, stage.optimizer, stage.reference) == (3800, 7600, 22800, 3800)
    # 2 micro-batches in flight x 2 layers x 20 tokens x 68 elements (fused attention) x 2 bytes.
    assert stage.layer_activations == 2 * 2 * 20 * 68 * 2
    # Vision: 2 images per micro-batch (4 of a rank's sequences span 2 groups of 4) x 16 patches (64 px / 2^2)
    # x 2 blocks x (4*4 + 8 + 8 + 3*6 = 50) elements, for 2 micro-batches in flight, 2 bytes.
    assert stage.vision_activations == 2 * (2 * 16 * 2 * 50) * 2
    assert stage.logit_activations == 0


def test_last_stage(small, small_run):
    config = small_run()
    stage = actor_memory(config, small, layout_of(config, small).actor, 1)
    assert stage.resident == 1048 * (2 + 4 + 12 + 2)
    # One micro-batch in flight; logits 20 tokens x 52 x 10 bytes; no vision tower.
    assert (stage.layer_activations, stage.vision_activations, stage.logit_activations) == (2 * 20 * 68 * 2, 0, 10400)


@pytest.mark.parametrize(
    ("overrides", "layers", "optimizer"),
    [
        (["actor.recompute=full"], (2 * 2 * 20 * 8 + 20 * 68) * 2, 22800),  # layer inputs + the one recomputed
        (["actor.spec=local"], 2 * 2 * 20 * (68 + 4 * 10 // 2) * 2, 22800),  # + the softmax of 4 heads / TP
        (["actor.spec=local", "actor.recompute=selective"], 2 * 2 * 20 * 68 * 2, 22800),
        (["actor.distributed_optimizer=true"], 2 * 2 * 20 * 68 * 2, 22800 // 2),
    ],
)
def test_recompute_attention_and_optimizer(small, small_run, overrides, layers, optimizer):
    config = small_run(*overrides)
    stage = actor_memory(config, small, layout_of(config, small).actor, 0)
    assert (stage.layer_activations, stage.optimizer) == (layers, optimizer)


def test_frozen_vision_has_no_state_or_activations(small, small_run):
    config = small_run("actor.freeze_vision=true", "algorithm.kl.coef=0")
    stage = actor_memory(config, small, layout_of(config, small).actor, 0)
    assert (stage.weights, stage.gradients, stage.optimizer, stage.reference) == (3800, 4160, 12480, 0)
    assert stage.vision_activations == 0


def test_colocated_engines_beside_a_resident_actor(small, small_run):
    config = small_run("cluster.offload_actor=false")
    estimate = estimate_memory(config, small, layout_of(config, small))
    assert estimate.actor.stage == 0  # the most loaded: vision, embedding, 2 micro-batches in flight
    assert estimate.training_peak == 38000 + 10880 + 12800 + RUNTIME_RESERVE
    engine = estimate.engine
    # All 4900 parameters in bf16 over the engine's TP 2; KV 4 layers x 2 x 1 head of 2 x 2 bytes = 32 per token;
    # one group: the 6-token prompt once (prefix cache) and 4 responses of 4.
    assert (engine.weights, engine.kv_per_token, engine.group_tokens) == (4900, 32, 22)
    # SGLang's pool: 0.5 x 80 GiB, less what is already there (the actor's resident state, weights, reserve).
    assert engine.kv_pool == 40 * GIB - (38000 + 4900 + RUNTIME_RESERVE)
    assert estimate.rollout_peak == 40 * GIB


def test_colocated_engines_with_the_actor_offloaded(small, small_run):
    config = small_run()  # cluster.offload_actor=true, the default
    estimate = estimate_memory(config, small, layout_of(config, small))
    assert estimate.training_peak == 38000 + 10880 + 12800 + RUNTIME_RESERVE  # training is the same
    assert estimate.rollout_resident == 0
    assert estimate.engine.kv_pool == 40 * GIB - (4900 + RUNTIME_RESERVE)  # SGLang's pool sees an empty GPU
    assert estimate.rollout_peak == 40 * GIB  # the sync (weights of both) is smaller than the pool here


def test_disaggregated_engines_do_not_see_the_actor(small, small_run):
    config = small_run("cluster.colocate=false", "rollout.num_engines=2")
    estimate = estimate_memory(config, small, layout_of(config, small, nodes=2))
    assert estimate.engine.kv_pool == 40 * GIB - (4900 + RUNTIME_RESERVE)
    assert estimate.rollout_peak == 40 * GIB
