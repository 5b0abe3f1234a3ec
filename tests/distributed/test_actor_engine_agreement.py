"""The bridge and the local engine agree with the actor: rollout log-probs equal the actor's, after a sync.

One spawn of 2 gloo processes at TP=2 runs the RL loop once: the local engine (HF folder, version 0) samples
2 demo prompts x 4 at T=0.7 with top-p 0.9; the Megatron actor scores them and takes one GRPO step; its
weights stream through ``bridge.exporter.iter_hf_buckets`` into the engine (version 1); the engine samples
again, and the actor scores those samples. Both times the engine's per-token log-probs must equal the actor's
(fp32, 1e-4; measured 1e-6): the two sides share one definition (``rollout.types``: log-softmax of the temperature-scaled logits
over the full vocabulary, before top-p and before the suppression of special tokens), and the synced engine
holds the actor's weights. Each rank has its own engine; both must draw the same samples.
"""

from __future__ import annotations

import pytest
import torch

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed

SAMPLING = {"n": 4, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 8, "seed": 3}
BUCKET_BYTES = 256 * 1024  # several buckets for the ~3.6 MB tiny model


def _prompt_batch(demo_dir: str, processors):
    from megatron_mmupt.config.overrides import apply_overrides
    from megatron_mmupt.data.pipeline import PromptPipeline

    config = apply_overrides(
        PromptPipeline.Config(),
        [f"source.path={demo_dir}/train.parquet", "sampler.batch_size=2", "num_workers=0"],
    )
    return config.build(processors=processors).next_batch()


def _score(actor, engine, batch, sampling) -> dict:
    """Sample ``batch`` with the engine, score the samples with the actor; both ``(N, L - 1)`` on the mask."""
    from megatron_mmupt.actor.sequences import build_sequences, place_response_values

    groups = engine.generate(batch, sampling)
    rollouts = [r for g in groups for r in g.rollouts]
    prompts = [p for p, g in zip(batch, groups, strict=True) for _ in g.rollouts]
    seqs = build_sequences(prompts, [r.response_token_ids for r in rollouts], engine.token_policy.pad_token_id)
    return {
        "seqs": seqs,
        "rollouts": rollouts,
        "engine": place_response_values([r.rollout_logprobs for r in rollouts], seqs),
        "actor": actor.logprobs(seqs, temperature=sampling.temperature),
    }


def _agreement_worker(rank: int, world_size: int, model_dir: str, demo_dir: str) -> dict:
    from megatron_mmupt.actor.megatron.actor import MegatronActor, OptimizerConfig
    from megatron_mmupt.actor.megatron.distributed import init_parallel
    from megatron_mmupt.algorithm.batch import make_train_batch
    from megatron_mmupt.algorithm.config import AlgorithmConfig, KLConfig
    from megatron_mmupt.bridge.exporter import iter_hf_buckets
    from megatron_mmupt.data.processing import load_processors
    from megatron_mmupt.parallel.config import ParallelConfig
    from megatron_mmupt.rollout.engine import SamplingConfig
    from megatron_mmupt.rollout.local.engine import LocalEngine

    parallel = ParallelConfig(tensor_degree=2)
    groups = init_parallel(parallel)
    algorithm = AlgorithmConfig(kl=KLConfig(coef=0.0))
    actor = MegatronActor.Config(
        model=model_dir, parallel=parallel, micro_batch_size=4, spec="local",
        optimizer=OptimizerConfig(lr=1e-2, clip_grad=0.0),
    ).build(groups=groups, algorithm=algorithm)  # fmt: skip
    engine = LocalEngine.Config(model_path=model_dir, device="cpu", dtype="float32").build()
    sampling = SamplingConfig(**SAMPLING)
    batch = _prompt_batch(demo_dir, load_processors(f"{demo_dir}/processor"))

    first = _score(actor, engine, batch, sampling)
    n = len(first["rollouts"])
    train_batch, _ = make_train_batch(
        rewards=torch.tensor([float(i % 2) for i in range(n)]),  # alternate within each group: non-zero advantages
        group_ids=torch.arange(n) // sampling.n,
        response_mask=first["seqs"].response_mask,
        truncated=torch.tensor([r.finish_reason.is_truncated for r in first["rollouts"]]),
        cfg=algorithm,
        old_logprobs=first["actor"],
    )
    actor.train_step(first["seqs"], train_batch, temperature=sampling.temperature)
    moved = actor.logprobs(first["seqs"], temperature=sampling.temperature)

    buckets = iter_hf_buckets(actor.unwrapped, actor.hf_config, groups, spec=actor.spec, bucket_bytes=BUCKET_BYTES)
    engine.update_weights(buckets, version=1)
    second = _score(actor, engine, batch, sampling)

    def summary(scored: dict) -> dict:
        mask = scored["seqs"].response_mask
        return {
            "engine": scored["engine"][mask],
            "actor": scored["actor"][mask],
            "tokens": [r.response_token_ids for r in scored["rollouts"]],
            "versions": {r.weight_version for r in scored["rollouts"]},
        }

    mask = first["seqs"].response_mask
    return {"v0": summary(first), "v1": summary(second), "moved": (moved - first["actor"])[mask].abs().max()}


@pytest.fixture(scope="module")
def agreement(tiny_model_dir, demo_dir):
    return run_distributed(_agreement_worker, 2, str(tiny_model_dir), str(demo_dir), timeout=240, device_strict=True)


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_rollout_logprobs_equal_the_actors(agreement, version):
    for rank, result in enumerate(agreement):
        scored = result[version]
        assert scored["engine"].numel() >= 8  # at least one token of each of the 2 x 4 samples
        torch.testing.assert_close(scored["engine"], scored["actor"], atol=1e-4, rtol=0, msg=f"rank {rank}")
    assert agreement[0][version]["tokens"] == agreement[1][version]["tokens"]  # same seeds, same weights


def test_the_sync_carries_the_trained_weights(agreement):
    for result in agreement:
        assert result["moved"] > 1e-3  # the step changed the actor's log-probs well beyond the tolerance
        assert result["v0"]["versions"] == {0} and result["v1"]["versions"] == {1}
        assert result["v1"]["tokens"] != result["v0"]["tokens"]  # the updated engine samples differently
