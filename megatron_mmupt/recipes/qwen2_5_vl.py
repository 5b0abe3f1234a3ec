"""Qwen2.5-VL recipes."""

from __future__ import annotations

import dataclasses

from megatron_mmupt.actor.config import ActorConfig, OptimizerConfig
from megatron_mmupt.algorithm.config import AdvantageConfig, AlgorithmConfig, KLConfig, PolicyLossConfig
from megatron_mmupt.config.run_config import RunConfig, TrainerConfig
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.prompt_renderer import PromptConfig
from megatron_mmupt.data.sampler import SamplerConfig
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.parallel.cluster import ClusterConfig
from megatron_mmupt.parallel.config import ParallelConfig
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.config import RolloutConfig
from megatron_mmupt.rollout.engine import SamplingConfig
from megatron_mmupt.rollout.sglang.args import SGLangConfig


def qwen2_5_vl_7b_mmr1() -> RunConfig:
    """MM-UPT on MMR1 with Qwen2.5-VL-7B: the reference run (``MM-UPT/examples/qwen2_5_vl_7b_mmr1.sh``).

    Data as the reference: MMR1 without labels, the MM-UPT prompt, 512 prompts per step, prompts up to
    2048 tokens, images within 512^2 .. 1536*28^2 pixels, seed 1. Reward and objective as the reference:
    majority vote over boxed answers, no format term; GRPO (unbiased std, eps 1e-6), PPO clip 0.2/0.3 with
    dual-clip 3.0, k3 KL loss with coefficient 0.01, token-mean loss. Rollout G=10, T=0.7, top_p=0.99,
    responses up to 2048 tokens; AdamW lr 1e-6 constant, wd 0.01, clip 1.0, 128 prompts per optimizer step
    (4 per rollout step); vision tower trained. One node of 8 GPUs: the actor at TP=4 x DP=2 (bf16), two
    SGLang engines of TP=4 colocated with it. Memory (``megatron-mmupt train --dry-run``, docs/deploy.md): full
    recompute (the reference checkpoints activations too) and the distributed optimizer bring the most loaded
    GPU to about 63 of 80 GiB; without them it needs 99. Paths are placeholders for local copies:
    ``actor.model=/models/Qwen2.5-VL-7B-Instruct data.processor=/models/Qwen2.5-VL-7B-Instruct
    data.source.path=/data/MMR1/train.parquet``.
    """
    return RunConfig(
        name="qwen2_5_vl_7b_mmr1",
        output_dir="runs/qwen2_5_vl_7b_mmr1",
        seed=1,
        data=PromptPipeline.Config(
            source=DatasetSource.Config(path="MMR1/MMR1-Math-RL-Data-v0", split="train", preset="mmr1"),
            processor="Qwen/Qwen2.5-VL-7B-Instruct",
            images=ImageConfig(min_pixels=512 * 512, max_pixels=1536 * 28 * 28),
            prompt=PromptConfig(max_prompt_tokens=2048),
            sampler=SamplerConfig(batch_size=512, shuffle=True, seed=1),
        ),
        reward=RewardStage.Config(mode="majority"),
        algorithm=AlgorithmConfig(
            advantage=AdvantageConfig(estimator="grpo", eps=1e-6),
            policy_loss=PolicyLossConfig(name="ppo_clip", clip_low=0.2, clip_high=0.3, clip_dual=3.0),
            kl=KLConfig(estimator="k3", coef=0.01),
            loss_aggregation="token-mean",
        ),
        actor=ActorConfig(
            model="Qwen/Qwen2.5-VL-7B-Instruct",
            parallel=ParallelConfig(tensor_degree=4),
            optimizer=OptimizerConfig(lr=1e-6, weight_decay=0.01, clip_grad=1.0),
            micro_batch_size=4,
            params_dtype="bf16",
            recompute="full",
            distributed_optimizer=True,
        ),
        rollout=RolloutConfig(
            engine="sglang",
            num_engines=2,
            sampling=SamplingConfig(n=10, temperature=0.7, top_p=0.99, max_new_tokens=2048, seed=1),
            sglang=SGLangConfig(tp_size=4, mem_fraction_static=0.6, context_length=4096),
        ),
        trainer=TrainerConfig(num_steps=60, updates_per_step=4, world_size=8),
        cluster=ClusterConfig(colocate=True, cpus_per_worker=8.0),
    )


def qwen2_5_vl_72b_mmr1() -> RunConfig:
    """The 7B reference run scaled to Qwen2.5-VL-72B: same data, reward, objective and hyper-parameters.

    Eight nodes of 8 GPUs (80 GiB): the actor at TP=8 (the 8 KV heads allow no more) x PP=4 (20 of the 80
    layers per stage) x DP=2, one sequence per micro-batch, full recompute, the distributed optimizer; eight
    SGLang engines of TP=8 (one per node) colocated with it. The vision tower is frozen: trained, its
    activations for the 4 micro-batches the first pipeline stage holds in flight (up to 6144 patches per image)
    would take about 30 GiB of that stage's GPUs. On 4 nodes the actor's optimizer state is not sharded
    (DP=1) and leaves the engines no room for a KV cache; more nodes shard it further
    (``megatron-mmupt train --dry-run --nodes N``, docs/deploy.md). Paths are placeholders, as for 7B.
    """
    config = qwen2_5_vl_7b_mmr1()
    model = "Qwen/Qwen2.5-VL-72B-Instruct"
    config.name = "qwen2_5_vl_72b_mmr1"
    config.output_dir = "runs/qwen2_5_vl_72b_mmr1"
    config.data = dataclasses.replace(config.data, processor=model)
    config.actor = dataclasses.replace(
        config.actor,
        model=model,
        parallel=ParallelConfig(tensor_degree=8, pipeline_degree=4),
        micro_batch_size=1,
        freeze_vision=True,
    )
    sglang = dataclasses.replace(config.rollout.sglang, tp_size=8, mem_fraction_static=0.85)
    config.rollout = dataclasses.replace(config.rollout, num_engines=8, sglang=sglang)
    config.trainer = dataclasses.replace(config.trainer, world_size=64)
    return config
