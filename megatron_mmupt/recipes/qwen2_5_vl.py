"""Qwen2.5-VL recipes."""

from __future__ import annotations

from megatron_mmupt.algorithm.config import AdvantageConfig, AlgorithmConfig, KLConfig, PolicyLossConfig
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.prompt_renderer import PromptConfig
from megatron_mmupt.data.sampler import SamplerConfig
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.reward.stage import RewardStage


def qwen2_5_vl_7b_mmr1() -> RunConfig:
    """MM-UPT on MMR1 with Qwen2.5-VL-7B: the reference run (``MM-UPT/examples/qwen2_5_vl_7b_mmr1.sh``).

    Data as the reference: MMR1 without labels, the MM-UPT prompt, 512 prompts per step, prompts up to
    2048 tokens, images within 512^2 .. 1536*28^2 pixels, seed 1. Reward and objective as the reference:
    majority vote over boxed answers, no format term; GRPO (unbiased std, eps 1e-6), PPO clip 0.2/0.3 with
    dual-clip 3.0, k3 KL loss with coefficient 0.01, token-mean loss. Rollout (G=10, T=0.7, top_p=0.99)
    and optimizer (AdamW lr 1e-6, wd 0.01, 128 prompts per update) join this recipe with their stages.
    Paths are placeholders for a local copy: ``data.source.path=/data/MMR1/train.parquet
    data.processor=/models/Qwen2.5-VL-7B-Instruct``.
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
    )
