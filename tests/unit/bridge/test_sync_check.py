"""``WeightSync``'s check mode: the engine's copy of a sample of tensors against what the actor sent.

Real pieces: an in-process ``LocalEngine`` on the tiny model behind the run's ``EngineBalancer``, and the
checkpoint's own tensors as the fingerprints rank 0 would report after a sync of them.
"""

import pytest
from safetensors.torch import load_file

from megatron_mmupt.bridge.sync import WeightSync, WeightSyncError
from megatron_mmupt.bridge.transports import SyncReport
from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.parallel.cluster import ClusterConfig
from megatron_mmupt.parallel.run_placement import RunPlacement
from megatron_mmupt.rollout.balancer import EngineBalancer
from megatron_mmupt.rollout.config import RolloutConfig
from megatron_mmupt.rollout.local.engine import LocalEngine

VALUES = 16


@pytest.fixture(scope="module")
def checkpoint(tiny_model_dir):
    return load_file(str(tiny_model_dir / "model.safetensors"))


def weight_sync(model_dir, engine, *overrides):
    rollout = apply_overrides(RolloutConfig(), ["weight_sync.check_every=1", "weight_sync.check_tensors=1000",
                                                f"weight_sync.check_values={VALUES}", *overrides])  # fmt: skip
    balancer = EngineBalancer(EngineBalancer.Config(), engines=[engine])
    placement = RunPlacement(ClusterConfig(num_gpus_per_worker=0), cpus_per_engine=1.0)  # CPU: no GPU pool
    return WeightSync(rollout.weight_sync, actor=None, rollout=balancer, placement=placement, rollout_config=rollout,
                      actor_model=str(model_dir), world_size=1, bucket_bytes=1 << 20, run_dir=model_dir)  # fmt: skip


def report_of(tensors):
    fingerprints = {n: t.flatten()[:VALUES].float().tolist() for n, t in tensors.items()}
    return SyncReport(num_bytes=1, num_buckets=1, num_tensors=len(tensors), seconds=1.0, fingerprints=fingerprints)


def test_an_engine_that_holds_the_weights_passes(tiny_model_dir, checkpoint):
    engine = LocalEngine.Config(model_path=str(tiny_model_dir)).build()
    metrics = weight_sync(tiny_model_dir, engine).check(report_of(checkpoint), (0,), version=1)
    assert metrics == {"sync/check_tensors": float(len(checkpoint)), "sync/check_max_abs_diff": 0.0}


def test_a_differing_weight_fails_the_run_naming_it(tiny_model_dir, checkpoint):
    engine = LocalEngine.Config(model_path=str(tiny_model_dir)).build()
    sent = dict(checkpoint)
    sent["lm_head.weight"] = sent["lm_head.weight"] + 0.5  # the actor sent new values the engine never got
    with pytest.raises(WeightSyncError, match=r"version 3, engine weights differ .*float32.*engine 0: lm_head\.weight"
                       r" \(max \|diff\| 0\.5 over 16 values\)"):  # fmt: skip
        weight_sync(tiny_model_dir, engine).check(report_of(sent), (0,), version=3)


def test_values_are_compared_in_the_dtype_the_engine_serves(tiny_model_dir, checkpoint):
    """A bf16 engine holds the actor's fp32 values rounded: that is a match, not a difference."""
    engine = LocalEngine.Config(model_path=str(tiny_model_dir), dtype="bfloat16").build()
    sync = weight_sync(tiny_model_dir, engine, "local.dtype=bfloat16")
    assert sync.check(report_of(checkpoint), (0,), version=1)["sync/check_max_abs_diff"] == 0.0
    fp32_view = weight_sync(tiny_model_dir, engine)  # told the engine serves fp32: the rounding shows
    with pytest.raises(WeightSyncError, match="compared in torch.float32"):
        fp32_view.check(report_of(checkpoint), (0,), version=1)
