"""The tensor payload of ``/update_weights_from_tensor``: named tensors that travel as handles, not bytes.

SGLang's format (``load_format=None``, ``shared/sglang-api.md`` §2): ``list[(name, tensor)]`` pickled with
torch's multiprocessing reductions (``ForkingPickler``) and base64-encoded, one payload per SGLang TP rank. A
CUDA tensor pickles to a CUDA-IPC handle of its storage; a CPU tensor, with torch's ``file_system`` sharing
strategy, to the name of a shared-memory file. Either way the receiver maps the sender's memory: sender and
receiver must be on one host, and the sender must keep the tensors alive until the receiver has copied them
(the HTTP call returns after that).

``pack`` puts a bucket's tensors into one fresh buffer (a new one per call, since the receiver's copy may still
be running: slime's note) and returns views into it, so a bucket is one storage: one IPC handle or one
shared-memory file, whatever the number of tensors. ``serialize`` / ``deserialize`` are the wire format; the
receiver's unpickler accepts torch's rebuild functions and nothing else (SGLang's ``SafeUnpickler`` likewise).

``encode_bucket`` picks the payload a server gets: where the sglang package imports (the GPU image), SGLang's
own ``FlattenedTensorBucket`` with ``load_format="flattened_bucket"`` (the path slime uses against SGLang);
elsewhere the plain list of packed views with ``load_format=None``, which SGLang accepts too and which
``megatron-mmupt serve`` reads.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import pickle
from collections.abc import Iterator
from multiprocessing.reduction import ForkingPickler
from typing import Any

import torch

NamedTensors = list[tuple[str, torch.Tensor]]

_ALLOWED = {
    "torch.multiprocessing.reductions": {
        "rebuild_tensor", "rebuild_cuda_tensor", "rebuild_typed_storage", "rebuild_typed_storage_child",
        "rebuild_storage_filename", "rebuild_storage_empty", "rebuild_event", "rebuild_nested_tensor",
    },
    "torch.storage": {"UntypedStorage", "TypedStorage"},
    "torch._utils": {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter"},
    "torch": {"Tensor", "Size", "device"} | {str(d).removeprefix("torch.") for d in (
        torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.uint8, torch.int8, torch.int32,
        torch.int64, torch.bool,
    )},
    "collections": {"OrderedDict"},
}  # fmt: skip


def pack(bucket: NamedTensors) -> tuple[torch.Tensor, NamedTensors]:
    """One fresh byte buffer holding the tensors of ``bucket`` back to back, in order (SGLang's flattened-bucket
    layout: ``update_weights_from_distributed`` with ``load_format="flattened_bucket"`` unpacks it from the names,
    dtypes and shapes alone), on the bucket's device; and the named views into it."""
    device = bucket[0][1].device if bucket else torch.device("cpu")
    total = sum(t.numel() * t.element_size() for _, t in bucket)
    flat = torch.empty(total, dtype=torch.uint8, device=device)
    views, start = [], 0
    for name, tensor in bucket:
        if start % tensor.element_size():
            raise ValueError(
                f"{name}: a {tensor.dtype} tensor at byte {start} of a packed bucket; mixed element sizes need "
                "the larger ones first (the bridge exports one dtype per model, which never hits this)"
            )
        nbytes = tensor.numel() * tensor.element_size()
        view = flat[start : start + nbytes].view(tensor.dtype).view(tensor.shape)
        view.copy_(tensor)
        views.append((name, view))
        start += nbytes
    return flat, views


@contextlib.contextmanager
def _file_system_sharing() -> Iterator[None]:
    # CPU storages shared by file name can be opened by any process of the host; the default (file
    # descriptors passed over a socket to the sender's resource sharer) only reaches its own children.
    import torch.multiprocessing as mp

    previous = mp.get_sharing_strategy()
    mp.set_sharing_strategy("file_system")
    try:
        yield
    finally:
        mp.set_sharing_strategy(previous)


def serialize(tensors: NamedTensors) -> str:
    """The base64 payload of ``tensors`` (handles to their memory, which must outlive the receiver's copy)."""
    if any(t.is_cuda for _, t in tensors):
        _handles_by_device_uuid()
    buffer = io.BytesIO()
    with _file_system_sharing():
        ForkingPickler(buffer, pickle.HIGHEST_PROTOCOL).dump(tensors)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def deserialize(payload: str) -> NamedTensors:
    """The receiver's side: map the sender's tensors (still its memory: copy them before answering)."""
    loaded = _TorchOnlyUnpickler(io.BytesIO(base64.b64decode(payload))).load()
    if not isinstance(loaded, list) or not all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], torch.Tensor)
        for item in loaded
    ):
        raise ValueError("a tensor payload must be a list of (name, tensor) pairs")
    return loaded


class _TorchOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to unpickle {module}.{name}: a tensor payload holds only tensors")


def _handles_by_device_uuid() -> None:
    """CUDA-IPC handles must name the GPU by UUID: sender and receiver number their visible GPUs differently
    (each actor rank sees one GPU, an SGLang server all of its own). SGLang's patch does exactly this and its
    receivers expect it, so the sender applies the same one."""
    try:
        from sglang.srt.utils.patch_torch import monkey_patch_torch_reductions
    except ImportError as e:
        raise ImportError(
            "the tensor weight transport to SGLang needs the sglang package in the actor's environment "
            "(docker/Dockerfile.gpu installs it); or set rollout.weight_sync.transport=distributed or disk"
        ) from e
    monkey_patch_torch_reductions()


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedBucket:
    """One bucket as a server's ``/update_weights_from_tensor`` takes it; ``keep`` must outlive the call."""

    payload: str
    load_format: str | None
    keep: Any


def encode_bucket(bucket: NamedTensors) -> EncodedBucket:
    flat, views = pack(bucket)
    try:
        from sglang.srt.utils import MultiprocessingSerializer
        from sglang.srt.weight_sync.tensor_bucket import FlattenedTensorBucket
    except ImportError:
        return EncodedBucket(serialize(views), None, flat)
    if flat.is_cuda:
        _handles_by_device_uuid()
    packed = FlattenedTensorBucket(named_tensors=views)
    body = {"flattened_tensor": packed.get_flattened_tensor(), "metadata": packed.get_metadata()}
    return EncodedBucket(MultiprocessingSerializer.serialize(body, output_str=True), "flattened_bucket", (flat, packed))
