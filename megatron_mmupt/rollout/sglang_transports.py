"""How weight buckets reach an SGLang server (or ``megatron-mmupt serve``): its three update endpoints.

Two layers:

* **Endpoint calls** (``ServerEndpoint`` and the ``update_*`` functions): one request each, usable from any
  process that can reach the server. The actor's ranks use them to send from where the weights are
  (``bridge/transports``); ``ServerEndpoint`` is picklable, so the driver hands it to them.
* **Single-process transports** (``DiskTransport``, ``TensorTransport``, ``DistributedTransport``): what
  ``SGLangClient.update_weights(buckets)`` uses when one process holds all the buckets (tools, tests, an
  engine catching up after a restart).

Every sender checks each bucket's names and shapes against the served checkpoint (safetensors headers) before
sending it, and sends the new ``weight_version`` with the last bucket only, so the server's version changes
once the whole update is in. SGLang applies ``tensor`` and ``distributed`` buckets as they arrive: a bucket
refused mid-way leaves the earlier ones applied and the version unchanged; the error says to re-send the whole
update. The CUDA-IPC and NCCL forms need GPUs and SGLang; on CPU the same code runs with shared memory and gloo
against ``serve`` (``docs/rollout.md``).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice, check_range
from megatron_mmupt.rollout.errors import EngineError
from megatron_mmupt.rollout.http_json import request_json
from megatron_mmupt.rollout.tensor_payload import encode_bucket, pack
from megatron_mmupt.rollout.update_group import broadcast, destroy_update_group, join_update_group
from megatron_mmupt.rollout.weights import check_bucket, write_safetensors_folder

if TYPE_CHECKING:
    from megatron_mmupt.rollout.engine import WeightBucket
    from megatron_mmupt.rollout.sglang_client import SGLangClient

Spec = dict[str, tuple[int, ...]]


@dataclasses.dataclass(frozen=True, slots=True)
class ServerEndpoint:
    """One server as a sender reaches it (picklable: the driver gives it to the actor's ranks)."""

    url: str
    tp_size: int = 1
    """SGLang TP ranks of the server: ``/update_weights_from_tensor`` takes one payload per rank."""
    timeout_s: float = 300.0
    retries: int = 3
    backoff_s: float = 0.5

    def post(self, path: str, body: Any = None, *, method: str = "POST") -> Any:
        return request_json(self.url.rstrip("/") + path, body, method=method, timeout_s=self.timeout_s,
                            retries=self.retries, backoff_s=self.backoff_s)  # fmt: skip


# --- endpoint calls ----------------------------------------------------------------------------------------


def update_from_disk(endpoint: ServerEndpoint, path: str | Path, *, version: int) -> None:
    """The server loads the ``*.safetensors`` of ``path`` (a path as the *server* sees it)."""
    body = {"model_path": str(path), "weight_version": str(version), "flush_cache": True}
    _check(endpoint.post("/update_weights_from_disk", body), "/update_weights_from_disk")


def update_from_tensor(endpoint: ServerEndpoint, payloads: Sequence[str], load_format: str | None, *, index: int,
                       last: bool, version: int) -> None:  # fmt: skip
    """One bucket as handles, ``payloads[r]`` for SGLang TP rank ``r``; returns once the server copied it."""
    if len(payloads) != endpoint.tp_size:
        raise ValueError(f"{len(payloads)} payloads for a server of {endpoint.tp_size} TP ranks")
    body = {"serialized_named_tensors": list(payloads), "load_format": load_format, "flush_cache": last,
            "weight_version": str(version) if last else None}  # fmt: skip
    _check(endpoint.post("/update_weights_from_tensor", body), f"weight bucket {index}")


def open_update_group(endpoints: Sequence[ServerEndpoint], *, backend: str, address: str, port: int,
                      group_name: str) -> Any:  # fmt: skip
    """Join the weight-update group as rank 0 with every TP rank of every server (``rank_offset`` 1, 1 + tp_0,
    ...); both sides must rendezvous, so the servers are asked from threads while this process joins."""
    world_size = 1 + sum(e.tp_size for e in endpoints)
    offsets = [1 + sum(e.tp_size for e in endpoints[:i]) for i in range(len(endpoints))]
    calls = []
    for endpoint, offset in zip(endpoints, offsets, strict=True):
        body = {"master_address": address, "master_port": port, "rank_offset": offset, "world_size": world_size,
                "group_name": group_name, "backend": backend}  # fmt: skip
        calls.append(lambda e=endpoint, b=body: e.post("/init_weights_update_group", b))
    with _InThreads(calls) as answers:
        group = join_update_group(backend=backend, address=address, port=port, world_size=world_size, rank=0,
                                  group_name=group_name)  # fmt: skip
    for response in answers.results:
        _check(response, "/init_weights_update_group")
    return group


def update_from_distributed(endpoints: Sequence[ServerEndpoint], group: Any, bucket: WeightBucket, *,
                            group_name: str, index: int, last: bool, version: int) -> None:  # fmt: skip
    """One bucket, packed, broadcast once from rank 0 while every server is told its names, dtypes and shapes."""
    flat, _ = pack(bucket)
    body = {
        "names": [n for n, _ in bucket],
        "dtypes": [str(t.dtype).removeprefix("torch.") for _, t in bucket],
        "shapes": [list(t.shape) for _, t in bucket],
        "group_name": group_name,
        "load_format": "flattened_bucket",
        "flush_cache": last,
        "weight_version": str(version) if last else None,
    }
    with _InThreads([lambda e=e: e.post("/update_weights_from_distributed", body) for e in endpoints]) as calls:
        broadcast(group, flat, src=0)
    for response in calls.results:
        _check(response, f"weight bucket {index}")


def close_update_group(endpoints: Sequence[ServerEndpoint], group: Any, *, group_name: str) -> None:
    with _InThreads([lambda e=e: e.post("/destroy_weights_update_group", {"group_name": group_name})
                     for e in endpoints]):  # fmt: skip
        destroy_update_group(group)


# --- single-process transports (SGLangClient.update_weights) -----------------------------------------------


@dataclasses.dataclass(kw_only=True, slots=True)
class WeightTransportConfig(ConfigNode):
    """Which transport ``SGLangClient.update_weights`` uses, and its settings."""

    kind: Literal["disk", "tensor", "distributed"] = "disk"
    """``disk``: safetensors in a shared folder; ``tensor``: handles (CUDA IPC; shared memory on CPU, same host);
    ``distributed``: a broadcast group (NCCL; gloo on CPU)."""
    disk_dir: str = ""
    """``disk``: folder both the trainer and the server can read (each sync writes a sub-folder)."""
    master_address: str = "127.0.0.1"
    """``distributed``: address of this process as the server reaches it (rank 0 of the group)."""
    master_port: int = 0
    """``distributed``: a free port on ``master_address``."""
    backend: Literal["nccl", "gloo"] = "nccl"
    """``distributed``: the group's backend (NCCL for GPU tensors, gloo for CPU tensors)."""
    group_name: str = "weight_update_group"
    """``distributed``: the group's name on the server side."""

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, ("disk", "tensor", "distributed"))
        check_choice("backend", self.backend, ("nccl", "gloo"))
        check_range("master_port", self.master_port, 0, 65535)


def build_transport(config: WeightTransportConfig) -> DiskTransport | TensorTransport | DistributedTransport:
    """The transport of ``config``; settings the chosen kind needs are checked here (defaults may omit them)."""
    if config.kind == "disk":
        if not config.disk_dir:
            raise ConfigError("weight_transport.disk_dir is empty; the disk transport needs a folder to write to")
        return DiskTransport(Path(config.disk_dir))
    if config.kind == "tensor":
        return TensorTransport()
    if not config.master_port:
        raise ConfigError("weight_transport.master_port must be set for the distributed transport")
    return DistributedTransport(config)


def with_last(buckets: Iterable[WeightBucket]) -> Iterator[tuple[int, WeightBucket, bool]]:
    """``(index, bucket, is_last)`` for a possibly lazy iterable, looking one bucket ahead."""
    iterator = iter(buckets)
    current = next(iterator, None)
    index = 0
    while current is not None:
        following = next(iterator, None)
        yield index, current, following is None
        current, index = following, index + 1


class DiskTransport:
    """Buckets -> safetensors shards in ``folder/v<version>`` -> ``/update_weights_from_disk``.

    All buckets are checked and written before the server is told, so a refused bucket changes nothing. The
    previous version's folder is removed once the server acknowledges the new one.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._last: Path | None = None

    def write(self, buckets: Iterable[WeightBucket], *, version: int, spec: Spec | None) -> Path:
        """The update as a folder (its index written last); ``spec``: check every bucket before writing any,
        ``None``: the caller has checked them, write as they come (one bucket in memory at a time)."""
        if spec is not None:
            checked = []
            for index, bucket in enumerate(buckets):
                check_bucket(bucket, spec, index)
                checked.append(bucket)
            buckets = checked
        return write_safetensors_folder(buckets, self.folder / f"v{version}")

    def loaded(self, path: Path) -> None:
        """Every server has read ``path``: the previous version can go."""
        if self._last is not None and self._last != path:
            shutil.rmtree(self._last, ignore_errors=True)
        self._last = path

    def send(self, client: SGLangClient, buckets: Iterable[WeightBucket], *, version: int, spec: Spec) -> None:
        path = self.write(buckets, version=version, spec=spec)
        update_from_disk(client.endpoint, path, version=version)
        self.loaded(path)


class TensorTransport:
    """Same host: per bucket, one packed buffer whose handles go to every TP rank of the server (the ranks map
    the one buffer; the multi-rank sender of ``bridge/transports`` gives each rank a copy on its own GPU)."""

    def send(self, client: SGLangClient, buckets: Iterable[WeightBucket], *, version: int, spec: Spec) -> None:
        endpoint = client.endpoint
        for index, bucket, last in with_last(buckets):
            check_bucket(bucket, spec, index)
            encoded = encode_bucket(bucket)
            update_from_tensor(endpoint, [encoded.payload] * endpoint.tp_size, encoded.load_format, index=index,
                               last=last, version=version)  # fmt: skip
            del encoded
            if torch.cuda.is_available():
                torch.cuda.ipc_collect()  # the server has copied: release the handles


class DistributedTransport:
    """This process as rank 0 of a broadcast group with the server's TP ranks; the group is opened once."""

    def __init__(self, config: WeightTransportConfig) -> None:
        self.config = config
        self.group: Any = None

    def send(self, client: SGLangClient, buckets: Iterable[WeightBucket], *, version: int, spec: Spec) -> None:
        c, endpoints = self.config, [client.endpoint]
        if self.group is None:
            self.group = open_update_group(endpoints, backend=c.backend, address=c.master_address,
                                           port=c.master_port, group_name=c.group_name)  # fmt: skip
        for index, bucket, last in with_last(buckets):
            check_bucket(bucket, spec, index)
            update_from_distributed(endpoints, self.group, bucket, group_name=c.group_name, index=index, last=last,
                                    version=version)  # fmt: skip


# --- helpers -------------------------------------------------------------------------------------------------


class _InThreads:
    """Run calls in threads for the duration of a ``with`` block; ``results`` after it (the first error raised)."""

    def __init__(self, calls: list[Callable[[], Any]]) -> None:
        self.results: list[Any] = [None] * len(calls)
        self._errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._run, args=(i, c), daemon=True) for i, c in enumerate(calls)]

    def _run(self, index: int, call: Callable[[], Any]) -> None:
        try:
            self.results[index] = call()
        except BaseException as e:  # handed to the caller in __exit__
            self._errors.append(e)

    def __enter__(self) -> _InThreads:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise self._errors[0]


def _check(response: Any, what: str) -> None:
    if not (isinstance(response, dict) and response.get("success")):
        message = response.get("message") if isinstance(response, dict) else response
        raise EngineError(
            f"the engine refused {what}: {message}; earlier buckets may be applied already: re-send the whole update"
        )
