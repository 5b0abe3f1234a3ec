"""``SGLangClient.update_weights``: the single-process transports, for one process that holds all the buckets
(tools, tests, an engine catching up after a restart). They send through the same calls as the actor's ranks
(``calls.py``). The CUDA-IPC and NCCL forms need GPUs and SGLang; on CPU the same code runs with shared memory and
gloo against ``serve`` and against SGLang's own server code (``docs/rollout.md``).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice, check_range
from megatron_mmupt.rollout.sglang.transports.calls import (
    ServerEndpoint,
    close_update_group,
    open_update_group,
    update_from_disk,
    update_from_distributed,
    update_from_tensor,
    update_session,
    with_last,
)
from megatron_mmupt.rollout.sglang.transports.payload import encode_bucket
from megatron_mmupt.rollout.weights import check_bucket, write_safetensors_folder

if TYPE_CHECKING:
    from megatron_mmupt.rollout.engine import WeightBucket
    from megatron_mmupt.rollout.sglang.client import SGLangClient

logger = logging.getLogger(__name__)
Spec = dict[str, tuple[int, ...]]


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

    def close(self) -> None:
        """Nothing held between syncs (the last version's folder stays: the server may reload it)."""


class TensorTransport:
    """Same host, inside one update session: per bucket, one packed buffer whose handles go to every TP rank of the server (the ranks map
    the one buffer; the multi-rank sender of ``bridge/transports`` gives each rank a copy on its own GPU)."""

    def send(self, client: SGLangClient, buckets: Iterable[WeightBucket], *, version: int, spec: Spec) -> None:
        endpoint = client.endpoint
        with update_session([endpoint]):
            for index, bucket, last in with_last(buckets):
                check_bucket(bucket, spec, index)
                encoded = encode_bucket(bucket)
                update_from_tensor(endpoint, [encoded.payload] * endpoint.tp_size, encoded.load_format, index=index,
                                   last=last, version=version)  # fmt: skip
                del encoded
                if torch.cuda.is_available():
                    torch.cuda.ipc_collect()  # the server has copied: release the handles

    def close(self) -> None:
        """Nothing held between syncs: each bucket's buffer is released once the server has copied it."""


class DistributedTransport:
    """This process as rank 0 of a broadcast group with the server's TP ranks; the group is opened once, the update
    session once per sync."""

    def __init__(self, config: WeightTransportConfig) -> None:
        self.config = config
        self.group: Any = None
        self._endpoints: list[ServerEndpoint] = []

    def send(self, client: SGLangClient, buckets: Iterable[WeightBucket], *, version: int, spec: Spec) -> None:
        c, endpoints = self.config, [client.endpoint]
        if self.group is None:
            self.group = open_update_group(endpoints, backend=c.backend, address=c.master_address,
                                           port=c.master_port, group_name=c.group_name)  # fmt: skip
            self._endpoints = endpoints
        with update_session(endpoints):
            for index, bucket, last in with_last(buckets):
                check_bucket(bucket, spec, index)
                update_from_distributed(endpoints, self.group, bucket, group_name=c.group_name, index=index,
                                        last=last, version=version)  # fmt: skip

    def close(self) -> None:
        """Leave the group on both sides; its name is free again in this process and on the server."""
        if self.group is None:
            return
        try:
            close_update_group(self._endpoints, self.group, group_name=self.config.group_name)
        except Exception as e:  # a server that died cannot leave the group; ours goes anyway
            logger.warning("closing the weight-update group %r: %s", self.config.group_name, e)
        self.group, self._endpoints = None, []
