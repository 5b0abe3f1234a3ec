"""The weight-update calls of an SGLang server (or ``megatron-mmupt serve``): one function per endpoint, one place.

Every sender uses these: the single-process transports of ``SGLangClient.update_weights`` (``single.py``) and the
actor ranks' senders (``bridge/transports``), so a protocol fix is made here once. ``ServerEndpoint`` is picklable,
so the driver hands it to the actor's ranks.

A sync, per transport (every sender follows this order; SGLang 0.5.23's scheduler enforces it):

    disk:         update_from_disk(e, path, version=v)                            # no session: see below
    tensor:       with update_session([e]):                                       # POST /begin_weight_update
                      update_from_tensor(e, payloads, fmt, index=i, last=..., version=v)   # per bucket
                                                                                  # POST /end_weight_update
    distributed:  group = open_update_group(es, ...)                              # once, kept across syncs
                  with update_session(es):
                      update_from_distributed(es, group, bucket, index=i, last=..., version=v)  # per bucket

The update session (SGLang 0.5.23, ``scheduler_components/weight_updater.py``): ``/update_weights_from_tensor``
and ``/update_weights_from_distributed`` answer 400 "... must run between begin_weight_update() and
end_weight_update()" outside one. ``begin`` restores in-place-quantized weights so new ones can load; ``end``
finalizes them (``postprocess_weights``) and closes the session. ``/update_weights_from_disk`` loads a whole new
checkpoint through the model loader, which post-processes on its own: it needs no session, and inside one
``end`` would post-process a second time, so the disk transport sends none. The session is closed on failure
too (``update_session``), or the engine would refuse the next sync's ``begin``.

Every bucket is checked against the served checkpoint (names and shapes) before it is sent. The new
``weight_version`` goes with the last bucket: SGLang records a version with the update call that carries it
(``record_weight_version_after_update``; ``end_weight_update`` takes no version), so the server's version changes
once the whole update is in, and ``end`` then finalizes it. SGLang applies ``tensor`` and ``distributed`` buckets
as they arrive: a bucket refused mid-way leaves the earlier ones applied and the version unchanged; the error says
to re-send the whole update.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from megatron_mmupt.rollout.errors import EngineError
from megatron_mmupt.rollout.sglang.http_json import EngineRequestError, request_json
from megatron_mmupt.rollout.sglang.transports.group import (
    broadcast,
    check_group_name_free,
    destroy_update_group,
    join_update_group,
)
from megatron_mmupt.rollout.sglang.transports.payload import pack

if TYPE_CHECKING:
    from megatron_mmupt.rollout.engine import WeightBucket

logger = logging.getLogger(__name__)


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


# --- the update session ------------------------------------------------------------------------------------


@contextlib.contextmanager
def update_session(endpoints: Sequence[ServerEndpoint]) -> Iterator[None]:
    """One weight-update session per server around a sync's buckets: ``/begin_weight_update`` on each before the
    first bucket, ``/end_weight_update`` on each after the last, and on failure too.

    A failure inside the block is raised as it is; servers that cannot be closed then are logged, not raised, so the
    original error is what the caller sees. A failed ``end`` after a good sync is raised.
    """
    opened: list[ServerEndpoint] = []
    try:
        for endpoint in endpoints:
            begin_weight_update(endpoint)
            opened.append(endpoint)
        yield
    except BaseException as error:
        for endpoint in opened:
            try:
                end_weight_update(endpoint)
            except Exception as close_error:  # the original error matters more; the next begin recovers
                logger.warning("closing the weight-update session of %s after %r: %s", endpoint.url, error, close_error)
        raise
    for endpoint in opened:
        end_weight_update(endpoint)


def begin_weight_update(endpoint: ServerEndpoint) -> None:
    """Open the session (``io_struct.BeginWeightUpdateReqInput``: ``selector`` ``"all"``, the served model and its
    draft). A session left open by a sender that died mid-sync is closed first: this process is the server's only
    weight writer, so an open session can only be a stale one, and refusing would block every later sync."""
    try:
        _check(endpoint.post("/begin_weight_update", {"selector": "all"}), "/begin_weight_update")
    except EngineRequestError as e:
        if "already open" not in str(e):
            raise
        logger.warning("%s had a weight-update session open (a sync that did not finish); closing it", endpoint.url)
        end_weight_update(endpoint)
        _check(endpoint.post("/begin_weight_update", {"selector": "all"}), "/begin_weight_update")


def end_weight_update(endpoint: ServerEndpoint) -> None:
    """Close the session (``io_struct.EndWeightUpdateReqInput``, no fields): the server finalizes the weights."""
    _check(endpoint.post("/end_weight_update", {}), "/end_weight_update")


# --- endpoint calls ----------------------------------------------------------------------------------------


def update_from_disk(endpoint: ServerEndpoint, path: str | Path, *, version: int) -> None:
    """The server loads the ``*.safetensors`` of ``path`` (a path as the *server* sees it)."""
    body = {"model_path": str(path), "weight_version": str(version), "flush_cache": True}
    _check(endpoint.post("/update_weights_from_disk", body), "/update_weights_from_disk")


def update_from_tensor(endpoint: ServerEndpoint, payloads: Sequence[str], load_format: str | None, *, index: int,
                       last: bool, version: int) -> None:  # fmt: skip
    """One bucket as handles, ``payloads[r]`` for SGLang TP rank ``r``; returns once the server copied it. Inside
    ``update_session``."""
    if len(payloads) != endpoint.tp_size:
        raise ValueError(f"{len(payloads)} payloads for a server of {endpoint.tp_size} TP ranks")
    body = {"serialized_named_tensors": list(payloads), "load_format": load_format, "flush_cache": last,
            "weight_version": str(version) if last else None}  # fmt: skip
    _check(endpoint.post("/update_weights_from_tensor", body), f"weight bucket {index}")


def open_update_group(endpoints: Sequence[ServerEndpoint], *, backend: str, address: str, port: int,
                      group_name: str) -> Any:  # fmt: skip
    """Join the weight-update group as rank 0 with every TP rank of every server (``rank_offset`` 1, 1 + tp_0,
    ...); both sides must rendezvous, so the servers are asked from threads while this process joins."""
    # Checked before any server is asked: once a server has joined the rendezvous it waits for this process
    # until the group's timeout, so failing after asking would leave it stuck for minutes.
    check_group_name_free(group_name)
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
    """One bucket, packed, broadcast once from rank 0 while every server is told its names, dtypes and shapes.
    Inside ``update_session(endpoints)``."""
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


def with_last(buckets: Iterable[WeightBucket]) -> Iterator[tuple[int, WeightBucket, bool]]:
    """``(index, bucket, is_last)`` for a possibly lazy iterable, looking one bucket ahead."""
    iterator = iter(buckets)
    current = next(iterator, None)
    index = 0
    while current is not None:
        following = next(iterator, None)
        yield index, current, following is None
        current, index = following, index + 1


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
