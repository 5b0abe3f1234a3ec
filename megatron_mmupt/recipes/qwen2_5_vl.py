"""Qwen2.5-VL recipes."""

from __future__ import annotations

from megatron_mmupt.algorithm.config import AdvantageConfig, AlgorithmConfig, KLConfig, PolicyLossConfig
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.reward.stage import RewardStage


def qwen2_5_vl_7b_mmr1() -> RunConfig:
    """MM-UPT on MMR1 with Qwen2.5-VL-7B: the reference run (``MM-UPT/examples/qwen2_5_vl_7b_mmr1.sh``).

    Reward and objective as the reference: majority vote over boxed answers, no format term; GRPO
    (unbiased std, eps 1e-6), PPO clip 0.2/0.3 with dual-clip 3.0, k3 KL loss with coefficient 0.01,
    token-mean loss. Rollout (G=10, T=0.7, top_p=0.99), optimizer (AdamW lr 1e-6, wd 0.01) and batch
    sizes (512 prompts per step, 128 per update) join this recipe with the stages that use them.
    """
    return RunConfig(
        name="qwen2_5_vl_7b_mmr1",
        output_dir="runs/qwen2_5_vl_7b_mmr1",
        seed=1,
        reward=RewardStage.Config(mode="majority"),
        algorithm=AlgorithmConfig(
            advantage=AdvantageConfig(estimator="grpo", eps=1e-6),
            policy_loss=PolicyLossConfig(name="ppo_clip", clip_low=0.2, clip_high=0.3, clip_dual=3.0),
            kl=KLConfig(estimator="k3", coef=0.01),
            loss_aggregation="token-mean",
        ),
    )
