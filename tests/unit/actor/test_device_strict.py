"""The device-strict CPU shim: logical devices that refuse a CPU/cuda mix as a GPU does, and accept correct code."""

import pytest
import torch

from megatron_mmupt.actor.megatron import device_strict
from megatron_mmupt.actor.megatron.device_strict import collectives
from megatron_mmupt.actor.megatron.offload import DeviceOffload, StateGroup

MIX = "Expected all tensors to be on the same device, but found at least two devices"


@pytest.fixture
def strict():
    with device_strict.active() as mode:
        yield mode


def test_a_cpu_cuda_mix_raises_like_cuda(strict):
    gpu, cpu = torch.ones(3, device="cuda"), torch.ones(3)
    with pytest.raises(RuntimeError, match=f"{MIX}, cuda:0 and cpu!"):
        gpu + cpu
    with pytest.raises(RuntimeError, match=MIX):
        torch.cat([gpu, cpu])
    with pytest.raises(RuntimeError, match=MIX):
        torch.nn.functional.embedding(torch.tensor([[0, 1]]), torch.randn(4, 2, device="cuda"))
    with pytest.raises(RuntimeError, match=f"{MIX}, cuda:0 and cuda:1!"):
        gpu + torch.ones(3, device="cuda:1")


def test_cpu_scalars_join_cuda_ops(strict):
    gpu = torch.ones(3, device="cuda")
    assert (gpu * 2 + torch.tensor(1.0)).device == torch.device("cuda", 0)
    assert torch.where(gpu > 0, gpu, torch.zeros(())).is_cuda


def test_moves_give_new_storages_and_keep_the_source(strict):
    cpu = torch.arange(4.0)
    for moved in (cpu.to("cuda"), cpu.cuda(), cpu.to(torch.device("cuda", 0)), cpu.to(0), cpu.to(device="cuda")):
        assert moved.device == torch.device("cuda", 0) and moved.is_cuda and moved.get_device() == 0
    assert cpu.device.type == "cpu" and not cpu.is_cuda
    gpu = cpu.cuda()
    assert gpu.cuda() is gpu and gpu.to(gpu.device) is gpu and cpu.cpu() is cpu
    back = gpu.cpu()
    assert back.device.type == "cpu" and gpu.is_cuda and torch.equal(back, cpu)
    assert torch.empty(2, device=gpu.device).is_cuda and torch.zeros_like(gpu).is_cuda
    assert cpu.to(gpu).is_cuda and gpu[1:].is_cuda and gpu.view(2, 2).is_cuda


def test_meta_tensors_are_left_alone(strict):
    assert torch.empty(2, device="meta").device.type == "meta"  # transformers builds models on meta first
    assert torch.ones(2).to("meta").device.type == "meta"


def test_indexing_and_copies_follow_cuda_rules(strict):
    gpu = torch.zeros(4, device="cuda")
    assert gpu[torch.tensor([0, 2])].is_cuda  # CPU indices are fine
    gpu[torch.tensor([0])] = torch.ones(1, device="cuda")
    gpu[1:3] = torch.ones(2)  # basic indexing copies across devices
    gpu.copy_(torch.arange(4.0))
    assert gpu.tolist() == [0.0, 1.0, 2.0, 3.0]
    cpu = torch.zeros(4)
    with pytest.raises(RuntimeError, match=MIX):
        cpu[[0, 1]] = gpu[:2]  # index_put_ needs the values on the tensor's device


def test_modules_and_their_gradients_move(strict):
    layer = torch.nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=MIX):
        layer(torch.ones(1, 3, device="cuda"))
    layer.cuda()
    assert all(p.is_cuda for p in layer.parameters())
    layer(torch.ones(1, 3, device="cuda")).sum().backward()
    assert layer.weight.grad.is_cuda  # filled by autograd in C++, tagged on access
    with pytest.raises(RuntimeError, match=MIX):
        layer(torch.ones(1, 3))
    layer.to("cpu")
    assert not layer.weight.is_cuda and layer(torch.ones(1, 3)).device.type == "cpu"
    norm = torch.nn.BatchNorm1d(2).to(torch.device("cuda", 0))
    assert norm.running_mean.is_cuda


def test_a_data_swap_takes_the_new_storage_device(strict):
    param = torch.nn.Parameter(torch.ones(4))
    param.data = torch.zeros(4, device="cuda")
    assert param.is_cuda and param.device == torch.device("cuda", 0)


def test_queries_answer_as_on_a_gpu(strict):
    gpu, cpu = torch.ones(2, device="cuda"), torch.ones(2)
    assert gpu.type() == "torch.cuda.FloatTensor" and cpu.type() == "torch.FloatTensor"
    assert gpu.type("torch.cuda.DoubleTensor").type() == "torch.cuda.DoubleTensor"
    assert torch.cuda.current_device() == 0
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        gpu.numpy()
    with pytest.raises(RuntimeError, match="only dense CPU tensors can be pinned"):
        gpu.pin_memory()
    assert cpu.pin_memory().device.type == "cpu" and torch.empty(2, pin_memory=True).device.type == "cpu"


def test_offload_round_trip_keeps_the_device(strict):
    weight = torch.arange(6.0, device="cuda")
    memory = DeviceOffload()
    assert memory.offload(StateGroup.WEIGHTS, [weight]) == 24
    host = memory._host_buffers[(StateGroup.WEIGHTS, 0)]
    assert host.device.type == "cpu" and weight.untyped_storage().nbytes() == 0
    with pytest.raises(RuntimeError, match="storage holds 0 bytes"):
        weight + 1  # an offloaded tensor cannot be used
    assert memory.onload() == 24
    assert weight.is_cuda and weight.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_collectives_refuse_cpu_tensors_over_gpu_groups(strict):
    device_strict.check_collective("all_reduce", [torch.ones(2, device="cuda")], group=None)
    with pytest.raises(RuntimeError, match="No backend type associated with device type cpu"):
        device_strict.check_collective("all_reduce", [torch.ones(2)], group=None)
    host_group = object()
    collectives.HOST_GROUPS.append(host_group)
    try:
        device_strict.check_collective("all_reduce", [torch.ones(2)], group=host_group)  # a gloo group
    finally:
        collectives.HOST_GROUPS.remove(host_group)


def test_correct_code_passes(strict):
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3)).cuda()
    optimizer = torch.optim.Adam(model.parameters())
    ids = torch.randint(0, 10, (2, 5)).cuda()
    loss = torch.nn.functional.cross_entropy(model(ids).flatten(0, 1), ids.flatten() % 3)
    loss.backward()
    optimizer.step()
    assert all(p.is_cuda for p in model.parameters()) and isinstance(loss.item(), float)
