"""Training through the Megatron Qwen2.5-VL at TP=2: the replicated vision tower gets the TP=1 gradients,
and ``reduce_replicated_grads`` keeps its replicas bit-identical. Device-strict: model, batch and the
gradient reduction on the rank's device."""

import pytest
import torch
import torch.distributed as dist

from megatron_mmupt.actor.megatron.distributed import init_parallel, local_device
from megatron_mmupt.actor.megatron.model_provider import build_model, load_hf_config, move_to_device
from megatron_mmupt.actor.megatron.parity import parity_batch
from megatron_mmupt.actor.megatron.qwen2_5_vl import REPLICATED_ATTR, reduce_replicated_grads
from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.bridge.importer import load_hf_weights
from megatron_mmupt.parallel.config import ParallelConfig

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed


def _vision_grads(rank: int, world_size: int, model_dir: str, tp: int) -> dict:
    parallel = ParallelConfig(tensor_degree=tp)
    groups = init_parallel(parallel)
    hf_config = load_hf_config(model_dir)
    model = build_model(hf_config, parallel, groups, spec="local")
    load_hf_weights(model, HFCheckpoint(model_dir), hf_config, spec="local", tp_rank=groups.tp_rank, tp_size=tp,
                    layer_offset=0)  # fmt: skip
    device = local_device()
    model = move_to_device(model, device)
    batch, real = parity_batch(model_dir)
    batch, real = {k: v.to(device) if v is not None else None for k, v in batch.items()}, real.to(device)
    labels = batch["input_ids"].roll(-1, dims=1)
    losses = model(**batch, labels=labels)  # (B, S) per-token cross entropy, vocab-parallel
    (losses * real).sum().backward()
    before = {n: p.grad.clone() for n, p in model.named_parameters() if getattr(p, REPLICATED_ATTR, False)}
    reduce_replicated_grads(model, groups.tp_group)
    after = {n: p.grad.clone() for n, p in model.named_parameters() if getattr(p, REPLICATED_ATTR, False)}
    if tp > 1:  # bit-identical replicas after the reduction
        for name, grad in after.items():
            other = [torch.empty_like(grad) for _ in range(tp)]
            dist.all_gather(other, grad, group=groups.tp_group)
            assert all(torch.equal(o, grad) for o in other), name
    return {"before": _host(before), "after": _host(after)}


def _host(grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: grad.cpu() for name, grad in grads.items()}


def test_vision_gradients_at_tp2_equal_tp1(tiny_model_dir):
    (single,) = run_distributed(_vision_grads, 1, str(tiny_model_dir), 1, timeout=180, device_strict=True)
    ranks = run_distributed(_vision_grads, 2, str(tiny_model_dir), 2, timeout=180, device_strict=True)
    assert single["after"] and single["after"].keys() == ranks[0]["after"].keys()
    assert any(g.abs().sum() > 0 for g in single["after"].values())  # the loss reaches the vision tower
    for name, reference in single["after"].items():
        for rank in ranks:
            torch.testing.assert_close(rank["before"][name], reference, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(rank["after"][name], reference, rtol=1e-4, atol=1e-6)
