"""``DeviceStrictMode``: the CPU shim's device rewrite, plus logical devices that refuse a mix (see the package)."""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from megatron_mmupt.actor.megatron.device_strict.tags import (
    CPU,
    common_device,
    device_name,
    input_keys,
    is_basic_index,
    set_tag,
    storage_key,
    tag_new_outputs,
    tag_of,
    tensor_outputs,
    tensors_in,
)

_PASSTHROUGH = frozenset(
    {
        "size", "dim", "numel", "stride", "is_floating_point", "is_complex", "element_size", "data_ptr",
        "untyped_storage", "_has_compatible_shallow_copy_type", "_parse_to", "__len__", "__repr__", "__format__",
        "tolist", "item", "__bool__", "__int__", "__float__", "__index__", "_set_grad_enabled", "is_contiguous",
        "storage_offset", "nelement", "__hash__", "__reduce_ex__", "requires_grad_", "set_",
    }
)  # fmt: skip
_DESCRIPTORS = {name: torch._C.TensorBase.__dict__[name] for name in ("device", "is_cuda", "grad", "is_cpu")}


class DeviceStrictMode(TorchFunctionMode):
    """The CPU shim's device rewrite plus logical-device tracking (module docstring)."""

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index  # torch.cuda.current_device()

    def _logical(self, device: Any) -> int | None:
        """The tag of a device argument; ``None`` for devices the shim leaves alone (``meta``)."""
        if isinstance(device, int) and not isinstance(device, bool):
            return device  # a CUDA ordinal
        device = torch.device(device) if isinstance(device, str) else device
        if device.type == "cuda":
            return self.index if device.index is None else device.index
        return CPU if device.type == "cpu" else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _PASSTHROUGH:
            return func(*args, **kwargs)
        if name in ("__get__", "__set__"):
            return self._descriptor(func, name, args)
        handler = _HANDLERS.get(name)
        if handler is not None:
            return handler(self, func, args, kwargs)
        return self._generic(func, name, args, kwargs)

    def _generic(self, func, name: str, args: tuple, kwargs: dict) -> Any:
        target = None
        if kwargs.get("device") is not None:
            target = self._logical(kwargs["device"])
            if target is None:
                return func(*args, **kwargs)  # meta tensors: untouched, untracked
            kwargs = {**kwargs, "device": torch.device("cpu")}
        if kwargs.get("pin_memory"):
            kwargs = {**kwargs, "pin_memory": False}  # a CPU-only build cannot pin
        inputs = [*tensors_in(args), *tensors_in(kwargs.values())] if kwargs else list(tensors_in(args))
        if name in ("index_put_", "index_put", "index") and len(args) > 1:
            inputs = [args[0], *tensors_in(args[2:])]  # index tensors may be on the CPU
        keys = input_keys(inputs, name)
        tag = common_device(inputs, keys, name) if inputs else CPU  # a factory without device= makes a CPU tensor
        result = func(*args, **kwargs)
        if target is not None and target != tag and any(storage_key(o) in keys for o in tensor_outputs(result)):
            result = result.clone()  # e.g. as_tensor(cpu, device="cuda"): a new storage on the new device
        tag_new_outputs(result, target if target is not None else tag, keys)
        return result

    def _descriptor(self, func, name: str, args: tuple) -> Any:
        owner = getattr(func, "__self__", None)
        result = func(*args)
        if name == "__set__":
            return result
        tag = tag_of(args[0]) if isinstance(args[0], torch.Tensor) else None
        if owner is _DESCRIPTORS["device"]:
            return torch.device("cuda", tag) if tag not in (None, CPU) else result
        if owner is _DESCRIPTORS["is_cuda"]:
            return tag not in (None, CPU)
        if owner is _DESCRIPTORS["is_cpu"]:
            return tag in (None, CPU)
        grad = owner is _DESCRIPTORS["grad"] and isinstance(result, torch.Tensor)
        if grad and tag is not None and tag_of(result) is None:
            set_tag(result, tag)  # filled by autograd in C++; a GPU puts it on the parameter's device
        return result

    # --- moves and queries --------------------------------------------------------------------------------

    def _move(self, tensor: torch.Tensor, target: int, convert) -> torch.Tensor:
        """``convert()`` on the CPU, as a new storage tagged ``target`` unless ``tensor`` is already there."""
        source = tag_of(tensor)
        result = convert()
        if source == target:
            return result
        if target == CPU and source is None:
            return result  # .cpu() of an untagged tensor: no copy, still unknown
        if storage_key(result) == storage_key(tensor):
            result = result.clone()
        set_tag(result, target)
        return result

    def _to(self, func, args: tuple, kwargs: dict) -> Any:
        tensor, rest = args[0], list(args[1:])
        target = None
        device = kwargs.get("device")
        if rest and isinstance(rest[0], (str, torch.device, int)) and not isinstance(rest[0], bool):
            device, rest[0] = rest[0], torch.device("cpu")
        elif rest and isinstance(rest[0], torch.Tensor):
            target = tag_of(rest[0])
        if device is not None:
            target = self._logical(device)
            if target is None:
                return func(*args, **kwargs)  # to("meta"): untouched, untracked
            kwargs = {**kwargs, "device": torch.device("cpu")} if "device" in kwargs else kwargs
        if target is None:
            return self._generic(func, "to", (tensor, *rest), kwargs)
        return self._move(tensor, target, lambda: func(tensor, *rest, **kwargs))

    def _cuda(self, func, args: tuple, kwargs: dict) -> Any:
        device = kwargs.get("device", args[1] if len(args) > 1 else None)
        target = self.index if device is None else self._logical(device)
        return self._move(args[0], target, lambda: args[0])

    def _cpu(self, func, args: tuple, kwargs: dict) -> Any:
        return self._move(args[0], CPU, lambda: args[0])

    def _type(self, func, args: tuple, kwargs: dict) -> Any:
        tensor = args[0]
        if len(args) == 1 and not kwargs:
            result = func(tensor).replace(".cuda.", ".", 1)  # 'torch.FloatTensor' (also under the plain shim)
            if tag_of(tensor) != CPU:
                return result.replace("torch.", "torch.cuda.", 1)  # cuda, or unknown: accept as the plain shim
            return result
        dtype = args[1] if len(args) > 1 else kwargs.get("dtype")
        if isinstance(dtype, str) and ".cuda." in dtype:
            plain = dtype.replace(".cuda.", ".", 1)
            return self._move(tensor, self.index, lambda: func(tensor, plain))
        return self._generic(func, "type", args, kwargs)

    def _pin_memory(self, func, args: tuple, kwargs: dict) -> Any:
        tensor = args[0]
        if tag_of(tensor) not in (None, CPU):
            name = tensor.type().replace("torch.", "torch.cuda.", 1)
            raise RuntimeError(f"cannot pin '{name}' only dense CPU tensors can be pinned")
        return tensor.clone()  # pinned host memory is still host memory

    def _numpy(self, func, args: tuple, kwargs: dict) -> Any:
        tag = tag_of(args[0])
        if tag not in (None, CPU):
            raise TypeError(
                f"can't convert cuda:{tag} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to "
                "host memory first."
            )
        return func(*args, **kwargs)

    def _get_device(self, func, args: tuple, kwargs: dict) -> int:
        tag = tag_of(args[0])
        return -1 if tag in (None, CPU) else tag

    def _copy(self, func, args: tuple, kwargs: dict) -> Any:
        return func(*args, **kwargs)  # copies between devices are legal

    def _getitem(self, func, args: tuple, kwargs: dict) -> Any:
        tensor, index = args[0], args[1]
        self._check_indices(tensor, index, "__getitem__")
        result = func(*args, **kwargs)
        tag_new_outputs(result, tag_of(tensor), [storage_key(tensor)])
        return result

    def _setitem(self, func, args: tuple, kwargs: dict) -> Any:
        tensor, index, value = args
        self._check_indices(tensor, index, "__setitem__")
        if isinstance(value, torch.Tensor) and not is_basic_index(index):
            common_device(
                [tensor, value], [storage_key(tensor), storage_key(value)], "__setitem__ (index_put_)"
            )  # basic indexing copies across devices
        return func(*args, **kwargs)

    def _check_indices(self, tensor: torch.Tensor, index: Any, where: str) -> None:
        own = tag_of(tensor)
        for item in tensors_in(index if isinstance(index, tuple) else (index,)):
            tag = tag_of(item)
            if tag not in (None, CPU, own):
                raise RuntimeError(
                    f"indices should be either on cpu or on the same device as the indexed tensor ({device_name(own)}) "
                    f"(device-strict CPU shim, in {where})"
                )


_HANDLERS = {
    "to": DeviceStrictMode._to,
    "cuda": DeviceStrictMode._cuda,
    "cpu": DeviceStrictMode._cpu,
    "type": DeviceStrictMode._type,
    "pin_memory": DeviceStrictMode._pin_memory,
    "numpy": DeviceStrictMode._numpy,
    "get_device": DeviceStrictMode._get_device,
    "copy_": DeviceStrictMode._copy,
    "__getitem__": DeviceStrictMode._getitem,
    "__setitem__": DeviceStrictMode._setitem,
}
