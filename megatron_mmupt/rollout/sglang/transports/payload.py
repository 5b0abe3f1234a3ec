"""The tensor payload of ``/update_weights_from_tensor``: named tensors that travel as handles, not bytes.

SGLang's format (``shared/sglang-api.md`` §2): an object pickled with torch's multiprocessing reductions
(``ForkingPickler``) and base64-encoded, one payload per SGLang TP rank. A CUDA tensor pickles to a CUDA-IPC handle
of its storage; a CPU tensor, with torch's ``file_system`` sharing strategy, to the name of a shared-memory file.
Either way the receiver maps the sender's memory: sender and receiver must be on one host, and the sender must keep
the tensors alive until the receiver has copied them (the HTTP call returns after that).

``encode_bucket`` sends SGLang's ``load_format="flattened_bucket"`` form, the one slime uses:
``{"flattened_tensor": uint8 (N,), "metadata": [FlattenedTensorMetadata(name, shape, dtype, start_idx, end_idx,
numel)]}`` (byte offsets). ``pack`` copies the bucket once into one fresh buffer (fresh per call: the receiver's
copy may still be running, slime's note), and the metadata is written straight over that buffer, so a bucket is
one copy and one storage (one IPC handle or shared-memory file). Building SGLang's ``FlattenedTensorBucket`` from the
packed views instead would ``cat`` them into a second buffer of the same size (about 3 GB per GPU for the 7B
embedding bucket; ``tools/bench_payload.py``). The metadata objects are pickled under SGLang's class name
(``_Pickler``), so the sender needs no sglang import; SGLang's ``SafeUnpickler`` allows that class.

``deserialize`` is the receiver's side for ``megatron-mmupt serve``: it accepts torch's rebuild functions and
SGLang's metadata class and nothing else (as SGLang's ``SafeUnpickler``), in both forms SGLang reads
(``load_format`` null: ``list[(name, tensor)]``; ``flattened_bucket``).
"""

from __future__ import annotations

import base64
import contextlib
import copyreg
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
    "copyreg": {"__newobj__"},
}  # fmt: skip

SGLANG_METADATA = ("sglang.srt.weight_sync.tensor_bucket", "FlattenedTensorMetadata")
"""Where SGLang 0.5.23 defines the metadata of a flattened bucket (allowed by its ``SafeUnpickler``)."""


@dataclasses.dataclass
class FlatMetadata:
    """SGLang's ``FlattenedTensorMetadata``, field for field (a plain dataclass there too, so the pickled state is
    the same); pickled under SGLang's name. Offsets and ``numel`` in bytes of the flat uint8 buffer."""

    name: str
    shape: torch.Size
    dtype: torch.dtype
    start_idx: int
    end_idx: int
    numel: int


def pack(bucket: NamedTensors) -> tuple[torch.Tensor, NamedTensors]:
    """One fresh byte buffer holding the tensors of ``bucket`` back to back, in order (SGLang's flattened-bucket
    layout: ``update_weights_from_distributed`` with ``load_format="flattened_bucket"`` unpacks it from the names,
    dtypes and shapes alone), on the bucket's device; and the named views into it."""
    device = bucket[0][1].device if bucket else torch.device("cpu")
    total = sum(t.numel() * t.element_size() for _, t in bucket)
    if device.type == "cpu":  # born in shared memory: pickling it then names its file instead of copying it there
        with _file_system_sharing():
            flat = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(total))
    else:
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


def serialize(obj: Any) -> str:
    """The base64 payload of ``obj`` (handles to its tensors' memory, which must outlive the receiver's copy):
    ``list[(name, tensor)]`` or a flattened bucket's dict."""
    values = obj.values() if isinstance(obj, dict) else [t for _, t in obj]
    if any(isinstance(t, torch.Tensor) and t.is_cuda for t in values):
        _handles_by_device_uuid()
    buffer = io.BytesIO()
    with _file_system_sharing():
        _Pickler(buffer, pickle.HIGHEST_PROTOCOL).dump(obj)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class _Pickler(pickle._Pickler):
    """``ForkingPickler``'s reductions (tensors and storages as handles) in Python's pickler, whose
    ``save_global`` can name ``FlatMetadata`` as SGLang's class without importing sglang."""

    dispatch_table = copyreg.dispatch_table | ForkingPickler._extra_reducers

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj is not FlatMetadata:
            super().save_global(obj, name)
            return
        module, qualname = SGLANG_METADATA
        self.save(module)
        self.save(qualname)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)


def deserialize(payload: str) -> NamedTensors:
    """The receiver's side: map the sender's tensors (still its memory: copy them before answering). A flattened
    bucket comes back as views into its flat buffer, as SGLang's ``reconstruct_tensors`` makes them."""
    loaded = _TorchOnlyUnpickler(io.BytesIO(base64.b64decode(payload))).load()
    if isinstance(loaded, dict) and set(loaded) == {"flattened_tensor", "metadata"}:
        flat, metadata = loaded["flattened_tensor"], loaded["metadata"]
        if not isinstance(flat, torch.Tensor) or not all(isinstance(m, FlatMetadata) for m in metadata):
            raise ValueError("a flattened bucket needs a flattened_tensor and FlattenedTensorMetadata entries")
        return [(m.name, flat[m.start_idx : m.end_idx].view(m.dtype).reshape(m.shape)) for m in metadata]
    if not isinstance(loaded, list) or not all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], torch.Tensor)
        for item in loaded
    ):
        raise ValueError("a tensor payload must be a list of (name, tensor) pairs or a flattened bucket")
    return loaded


class _TorchOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == SGLANG_METADATA:
            return FlatMetadata
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
    """One bucket as SGLang's flattened bucket over one fresh packed buffer (the only copy)."""
    flat, views = pack(bucket)
    metadata, start = [], 0
    for name, view in views:
        nbytes = view.numel() * view.element_size()
        metadata.append(FlatMetadata(name, view.shape, view.dtype, start, start + nbytes, nbytes))
        start += nbytes
    body = {"flattened_tensor": flat, "metadata": metadata}
    return EncodedBucket(serialize(body), "flattened_bucket", flat)
