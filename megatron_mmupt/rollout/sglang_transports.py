"""How buckets reach an SGLang server: one class per transport, each ``send(client, buckets, version, spec)``.

Every transport checks each bucket's names and shapes against the served checkpoint (safetensors headers)
before sending it, and sends the new ``weight_version`` with the last bucket only, so the server's version
changes once the whole update is in. SGLang applies each bucket as it arrives: a bucket refused mid-way
leaves the earlier ones applied and the version unchanged; the error says to re-send the whole update.

``DiskTransport`` runs anywhere (tested against ``megatron-mmupt serve``). ``TensorTransport`` and
``DistributedTransport`` need GPUs and SGLang and are written against SGLang 0.5.23's API without having
run here (no GPU, no SGLang on CPU machines): see ``docs/rollout.md``.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice, check_positive, check_range
from megatron_mmupt.rollout.engine import EngineError, WeightBucket
from megatron_mmupt.rollout.weights import check_bucket, write_safetensors_folder

if TYPE_CHECKING:
    from megatron_mmupt.rollout.sglang_client import SGLangClient

Spec = dict[str, tuple[int, ...]]


@dataclasses.dataclass(kw_only=True, slots=True)
class WeightTransportConfig(ConfigNode):
    """Which transport ``SGLangClient.update_weights`` uses, and its settings."""

    kind: Literal["disk", "tensor", "distributed"] = "disk"
    """``disk``: safetensors in a shared folder; ``tensor``: CUDA IPC (colocated); ``distributed``: NCCL."""
    disk_dir: str = ""
    """``disk``: folder both the trainer and the server can read (each sync writes a sub-folder)."""
    tp_size: int = 1
    """``tensor``: one payload per SGLang TP rank; ``distributed``: the engine's ranks in the NCCL group."""
    master_address: str = "127.0.0.1"
    """``distributed``: address of the trainer's rank that broadcasts (rank 0 of the group)."""
    master_port: int = 0
    """``distributed``: a free port on ``master_address``."""
    group_name: str = "weight_update_group"
    """``distributed``: the group's name on the SGLang side."""

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, ("disk", "tensor", "distributed"))
        check_positive("tp_size", self.tp_size)
        check_range("master_port", self.master_port, 0, 65535)


def build_transport(config: WeightTransportConfig) -> DiskTransport | TensorTransport | DistributedTransport:
    """The transport of ``config``; settings the chosen kind needs are checked here (defaults may omit them)."""
    if config.kind == "disk":
        if not config.disk_dir:
            raise ConfigError("weight_transport.disk_dir is empty; the disk transport needs a folder to write to")
        return DiskTransport(Path(config.disk_dir))
    if config.kind == "tensor":
        return TensorTransport(config.tp_size)
    if not config.master_port:
        raise ConfigError("weight_transport.master_port must be set for the distributed (NCCL) transport")
    return DistributedTransport(config)


def _with_last(buckets: Iterable[WeightBucket]) -> Iterator[tuple[int, WeightBucket, bool]]:
    """``(index, bucket, is_last)`` for a possibly lazy iterable, looking one bucket ahead."""
    iterator = iter(buckets)
    current = next(iterator, None)
    index = 0
    while current is not None:
        following = next(iterator, None)
        yield index, current, following is None
        current, index = following, index + 1


class DiskTransport:
    """Buckets -> safetensors shards in ``disk_dir/v<version>`` -> ``POST /update_weights_from_disk``.

    Data flow: trainer memory -> file system -> server memory. All buckets are checked and written before
    the server is told, so a refused bucket changes nothing. The previous version's folder is removed once
    the server acknowledges the new one.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._last: Path | None = None

    def send(self, client: SGLangClient, buckets: Iterable[WeightBucket], *, version: int, spec: Spec) -> None:
        checked = []
        for index, bucket in enumerate(buckets):
            check_bucket(bucket, spec, index)
            checked.append(bucket)
        path = write_safetensors_folder(checked, self.folder / f"v{version}")
        client.update_weights_from_disk(path, version=version)
        if self._last is not None and self._last != path:
            shutil.rmtree(self._last, ignore_errors=True)
        self._last = path


class TensorTransport:
    """Colocated engines: GPU tensors -> CUDA-IPC handles -> ``POST /update_weights_from_tensor``.

    Per bucket: SGLang's ``FlattenedTensorBucket`` packs the tensors into one uint8 buffer (a fresh one per
    call: the server copies asynchronously, slime's race note), ``MultiprocessingSerializer`` pickles it as
    IPC handles (after ``monkey_patch_torch_reductions``, so handles name the GPU by UUID), the same payload
    goes to each of the ``tp_size`` ranks, and ``torch.cuda.ipc_collect()`` releases the handles once the
    server answered. The sender must be on the same host and keep the buffer alive until then (it does: the
    call is synchronous). GPU-only; not run here.
    """

    def __init__(self, tp_size: int) -> None:
        self.tp_size = tp_size

    def send(self, client: SGLangClient, buckets: Iterable[WeightBucket], *, version: int, spec: Spec) -> None:
        from sglang.srt.utils import MultiprocessingSerializer
        from sglang.srt.utils.patch_torch import monkey_patch_torch_reductions
        from sglang.srt.weight_sync.tensor_bucket import FlattenedTensorBucket

        monkey_patch_torch_reductions()
        for index, bucket, last in _with_last(buckets):
            check_bucket(bucket, spec, index)
            flat = FlattenedTensorBucket(named_tensors=bucket)
            payload = {"flattened_tensor": flat.get_flattened_tensor(), "metadata": flat.get_metadata()}
            serialized = MultiprocessingSerializer.serialize(payload, output_str=True)
            body = {
                "serialized_named_tensors": [serialized] * self.tp_size,
                "load_format": "flattened_bucket",
                "flush_cache": last,
                "weight_version": str(version) if last else None,
            }
            response = client.post("/update_weights_from_tensor", body)
            del flat, payload
            torch.cuda.ipc_collect()
            _check(response, index)


class DistributedTransport:
    """Disaggregated engines: trainer rank 0 and the engine's TP ranks share an NCCL group.

    ``connect`` (once): ``POST /init_weights_update_group`` (engine ranks join at ``rank_offset=1``) while
    this process joins as rank 0 with SGLang's ``init_custom_process_group`` (both must rendezvous, so the
    HTTP call runs in a thread). Per bucket: ``POST /update_weights_from_distributed`` with the names, dtypes
    and shapes (``load_format="flattened_bucket"``) in a thread, while this process broadcasts the packed
    uint8 buffer from rank 0; the server answers once it has received and loaded it. GPU-only; not run here.
    """

    def __init__(self, config: WeightTransportConfig) -> None:
        self.config = config
        self.group: Any = None

    def connect(self, client: SGLangClient) -> None:
        from sglang.srt.utils import init_custom_process_group

        c = self.config
        world_size = 1 + c.tp_size
        body = {
            "master_address": c.master_address,
            "master_port": c.master_port,
            "rank_offset": 1,
            "world_size": world_size,
            "group_name": c.group_name,
            "backend": "nccl",
        }
        with _InThread(client.post, "/init_weights_update_group", body) as call:
            self.group = init_custom_process_group(
                backend="nccl",
                init_method=f"tcp://{c.master_address}:{c.master_port}",
                world_size=world_size,
                rank=0,
                group_name=c.group_name,
            )
        _check(call.result, -1)

    def send(self, client: SGLangClient, buckets: Iterable[WeightBucket], *, version: int, spec: Spec) -> None:
        from sglang.srt.weight_sync.tensor_bucket import FlattenedTensorBucket

        if self.group is None:
            self.connect(client)
        for index, bucket, last in _with_last(buckets):
            check_bucket(bucket, spec, index)
            flat = FlattenedTensorBucket(named_tensors=bucket)
            body = {
                "names": [n for n, _ in bucket],
                "dtypes": [str(t.dtype).removeprefix("torch.") for _, t in bucket],
                "shapes": [list(t.shape) for _, t in bucket],
                "group_name": self.config.group_name,
                "load_format": "flattened_bucket",
                "flush_cache": last,
                "weight_version": str(version) if last else None,
            }
            with _InThread(client.post, "/update_weights_from_distributed", body) as call:
                torch.distributed.broadcast(flat.get_flattened_tensor(), src=0, group=self.group)
            _check(call.result, index)


class _InThread:
    """Run ``fn(*args)`` in a thread for the duration of a ``with`` block; ``result`` after it (re-raises)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)

    def _run(self, fn: Any, args: tuple) -> None:
        try:
            self.result = fn(*args)
        except BaseException as e:  # handed to the caller in __exit__
            self._error = e

    def __enter__(self) -> _InThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _check(response: Any, index: int) -> None:
    if not (isinstance(response, dict) and response.get("success")):
        message = response.get("message") if isinstance(response, dict) else response
        raise EngineError(
            f"the engine refused weight bucket {index}: {message}; earlier buckets may be applied already: "
            "re-send the whole update"
        )
