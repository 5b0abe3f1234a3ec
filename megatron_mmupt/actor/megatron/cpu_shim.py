"""Let Megatron-Core run on machines without CUDA (CPU, gloo): the embedded default and the test suite.

Megatron-Core assumes a GPU in a few places that have nothing to do with the math: the CUDA RNG
tracker (``model_parallel_cuda_manual_seed`` reads ``torch.cuda.get_rng_state``), the global memory
buffer and the pipeline schedules (``torch.cuda.current_device()``, ``device="cuda"`` factories,
``torch.cuda.synchronize``), and the optimizers' type checks (``param.type() == "torch.cuda.FloatTensor"``).
``apply()`` redirects exactly those to the CPU:

* ``torch.cuda.current_device`` / ``synchronize`` / RNG state functions point at their CPU equivalents;
* a ``TorchFunctionMode`` rewrites ``device="cuda"`` (factory kwargs, ``.to("cuda")``, ``.cuda()``) to the
  CPU and reports CPU tensors' ``.type()`` as ``torch.cuda.*`` so the optimizers accept them.

It is applied only when CUDA is absent (``needed()``), once per process, before Megatron builds anything;
on GPU machines nothing is patched. The measured cost is nil (a 3.7 M-parameter GPT step took the same
time with and without the mode). With ``MEGATRON_MMUPT_DEVICE_STRICT=1`` the mode is ``device_strict``'s
instead: the same rewrite, plus a logical device per tensor that raises on a CPU/cuda mix as a GPU would. Features that still need CUDA on CPU: ``apply_rope_fusion``,
``gradient_accumulation_fusion``, MoE token dispatch, ``sequence_parallel`` with the local spec.
"""

from __future__ import annotations

import logging

import torch
from torch.overrides import TorchFunctionMode

from megatron_mmupt.actor.megatron import device_strict

_MODE: TorchFunctionMode | None = None


def needed() -> bool:
    return not torch.cuda.is_available()


def _cpu_device(device: object) -> object:
    if isinstance(device, str) and device.startswith("cuda"):
        return torch.device("cpu")
    if isinstance(device, torch.device) and device.type == "cuda":
        return torch.device("cpu")
    if isinstance(device, int) and not isinstance(device, bool):
        return torch.device("cpu")  # a CUDA ordinal
    return device


class _CudaToCpu(TorchFunctionMode):
    """Rewrites CUDA device arguments to CPU and fakes ``.type()`` for Megatron's optimizer checks."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if "device" in kwargs:
            kwargs["device"] = _cpu_device(kwargs["device"])
        name = getattr(func, "__name__", "")
        if name == "cuda":
            return args[0]
        if name == "type" and len(args) == 1 and not kwargs:
            result = func(*args)  # 'torch.FloatTensor' -> 'torch.cuda.FloatTensor'
            if isinstance(result, str) and ".cuda." not in result:
                return result.replace("torch.", "torch.cuda.", 1)
            return result
        if name == "to" and len(args) > 1 and isinstance(args[1], (str, torch.device, int)):
            args = (args[0], _cpu_device(args[1]), *args[2:])
        return func(*args, **kwargs)


def apply() -> None:
    """Patch once (idempotent). Call before importing Megatron models on a machine without CUDA."""
    global _MODE
    if _MODE is not None or not needed():
        return
    torch.cuda.current_device = lambda: torch.device("cpu")
    torch.cuda.synchronize = lambda *args, **kwargs: None
    torch.cuda.get_rng_state = lambda device="cuda": torch.get_rng_state()
    torch.cuda.set_rng_state = lambda state, device="cuda": torch.set_rng_state(state)
    torch.cuda.manual_seed = lambda seed: torch.default_generator.manual_seed(int(seed))
    # NOTE: torch.manual_seed() calls manual_seed_all; it must not recurse into the CPU generator again.
    torch.cuda.manual_seed_all = lambda seed: None
    import megatron.core.tensor_parallel.random as megatron_random

    megatron_random._get_cuda_rng_state = lambda *args, **kwargs: torch.get_rng_state()
    megatron_random._set_cuda_rng_state = lambda state, *args, **kwargs: torch.set_rng_state(state)
    # The RNG tracker now swaps CPU states and says so at WARNING on every fork; it is expected here.
    logging.getLogger("megatron.core.tensor_parallel.random").setLevel(logging.ERROR)
    if device_strict.requested():
        _MODE = device_strict.enable()  # the same rewrite, plus logical devices that refuse a mix
        return
    _MODE = _CudaToCpu()
    _MODE.__enter__()
