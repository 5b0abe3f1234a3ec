"""``megatron-mmupt serve``'s side of SGLang's tensor and distributed weight updates, and of weight reads.

What SGLang does on GPUs with CUDA IPC and NCCL, ``serve`` does on the CPU with the same requests: a tensor
payload maps the sender's shared memory (``sglang.transports.payload``), a distributed update receives a gloo broadcast in
the weight-update group (``sglang.transports.group``). Each bucket is applied as it arrives, and the version changes with
the bucket that carries ``weight_version`` (the last), as SGLang's do. The server has one TP rank, so it reads
payload 0 of a tensor update and joins a group as rank ``rank_offset``. A bad request is a
``WeightUpdateError``: a 400 with SGLang's ``{"success": false, "message"}``.

The update session, as SGLang 0.5.23's scheduler keeps it (``scheduler_components/weight_updater.py``): tensor and
distributed updates are refused outside ``/begin_weight_update`` ... ``/end_weight_update`` with SGLang's own
message, a second ``begin`` and an ``end`` without ``begin`` are refused too; disk updates need no session. A
stand-in that accepted what SGLang refuses would hide a sender that forgets the session (``docs/style.md`` rule 16).

    /begin_weight_update               {"selector": "all" | "target" | "draft"}
    /end_weight_update                 {}
    /update_weights_from_tensor        {"serialized_named_tensors": [...], "load_format": null | "flattened_bucket", ...}
    /init_weights_update_group         {"master_address", "master_port", "rank_offset", "world_size", ...}
    /update_weights_from_distributed   {"names", "dtypes", "shapes", "group_name", "load_format", ...}
    /destroy_weights_update_group      {"group_name"}
    /get_weights_by_name               {"name", "truncate_size"} -> [first values]
"""

from __future__ import annotations

import math
import pickle
import threading
from http import HTTPStatus
from typing import Any

import torch

from megatron_mmupt.rollout.errors import WeightUpdateError
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.rollout.serve.requests import parse_version
from megatron_mmupt.rollout.sglang.transports.group import destroy_update_group, join_update_group
from megatron_mmupt.rollout.sglang.transports.payload import deserialize

Answer = tuple[int, Any]


class WeightReceiver:
    def __init__(self, engine: LocalEngine) -> None:
        self.engine = engine
        self.groups: dict[str, Any] = {}
        self.session: str | None = None
        """The open update session's selector; ``None`` outside one."""
        self._lock = threading.Lock()

    def begin(self, body: Any) -> Answer:
        selector = _fields(body, "/begin_weight_update", {"selector"}).get("selector", "all")
        if selector not in ("target", "draft", "all"):
            raise WeightUpdateError(f"invalid selector {selector!r}; expected 'target', 'draft', or 'all'")
        with self._lock:
            if self.session is not None:
                raise WeightUpdateError("a weight-update session is already open; call end_weight_update() first")
            self.session = selector
        return HTTPStatus.OK, {"success": True, "message": "Success"}

    def end(self, body: Any) -> Answer:
        _fields(body, "/end_weight_update", set())
        with self._lock:
            if self.session is None:
                raise WeightUpdateError("no weight-update session is open; call begin_weight_update() first")
            self.session = None
        return HTTPStatus.OK, {"success": True, "message": "Success"}

    def _require_session(self, endpoint: str) -> None:
        if self.session is None:  # SGLang's words, so a client sees the same refusal from both servers
            raise WeightUpdateError(f"{endpoint} must run between begin_weight_update() and end_weight_update()")

    def from_tensor(self, body: Any) -> Answer:
        self._require_session("update_weights_from_tensor")
        payloads = body.get("serialized_named_tensors")
        if not isinstance(payloads, list) or not payloads or not all(isinstance(p, str) for p in payloads):
            raise WeightUpdateError("serialized_named_tensors must be a non-empty list of payload strings")
        if body.get("load_format") not in (None, "flattened_bucket"):
            raise WeightUpdateError(
                f"load_format={body['load_format']!r}: serve reads null (a list of named tensors) and "
                "'flattened_bucket'"
            )
        try:
            named = deserialize(payloads[0])  # this server is TP rank 0
        except (ValueError, pickle.UnpicklingError, EOFError) as e:
            raise WeightUpdateError(f"serialized_named_tensors[0] is not a tensor payload: {e}") from None
        version = self._apply(named, body.get("weight_version"))
        return HTTPStatus.OK, {"success": True, "message": f"loaded {len(named)} tensors (version {version})"}

    def init_group(self, body: Any) -> Answer:
        name = str(body.get("group_name", "weight_update_group"))
        try:
            group = join_update_group(
                backend=str(body.get("backend", "nccl")), address=str(body["master_address"]),
                port=int(body["master_port"]), world_size=int(body["world_size"]), rank=int(body["rank_offset"]),
                group_name=name,
            )  # fmt: skip
        except KeyError as e:
            raise WeightUpdateError(f"/init_weights_update_group needs {e.args[0]!r}") from None
        with self._lock:
            self.groups[name] = group
        return HTTPStatus.OK, {"success": True, "message": f"joined weight update group {name!r}"}

    def from_distributed(self, body: Any) -> Answer:
        self._require_session("update_weights_from_distributed")
        name = str(body.get("group_name", "weight_update_group"))
        group = self.groups.get(name)
        if group is None:
            raise WeightUpdateError(f"no weight update group {name!r}; call /init_weights_update_group first")
        names, dtypes, shapes = body.get("names"), body.get("dtypes"), body.get("shapes")
        if not (isinstance(names, list) and isinstance(dtypes, list) and isinstance(shapes, list)) or not (
            len(names) == len(dtypes) == len(shapes)
        ):
            raise WeightUpdateError("names, dtypes and shapes must be lists of the same length")
        specs = [(str(n), _dtype(d), tuple(int(x) for x in s)) for n, d, s in zip(names, dtypes, shapes, strict=True)]
        named = _receive(group, specs, flattened=body.get("load_format") == "flattened_bucket")
        version = self._apply(named, body.get("weight_version"))
        return HTTPStatus.OK, {"success": True, "message": f"received {len(named)} tensors (version {version})"}

    def destroy_group(self, body: Any) -> Answer:
        name = str((body or {}).get("group_name", "weight_update_group"))
        with self._lock:
            group = self.groups.pop(name, None)
        if group is None:
            raise WeightUpdateError(f"no weight update group {name!r}")
        destroy_update_group(group)
        return HTTPStatus.OK, {"success": True, "message": f"destroyed weight update group {name!r}"}

    def weights_by_name(self, body: Any) -> Answer:
        name = body.get("name")
        if not isinstance(name, str):
            raise WeightUpdateError("name is required")
        return HTTPStatus.OK, self.engine.get_weights_by_name(name, int(body.get("truncate_size", 100)))

    def _apply(self, named: list[tuple[str, torch.Tensor]], weight_version: Any) -> int:
        version = parse_version(weight_version, self.engine.weight_version)
        self.engine.update_weights([named], version=version)  # copies before answering: the sender may free
        return version


def _receive(group: Any, specs: list[tuple[str, torch.dtype, tuple[int, ...]]], *, flattened: bool):
    """Receive one bucket: one uint8 broadcast (``flattened_bucket``) or one broadcast per tensor, in order."""
    if not flattened:
        tensors = [torch.empty(shape, dtype=dtype) for _, dtype, shape in specs]
        for tensor in tensors:
            torch.distributed.broadcast(tensor, src=0, group=group)
        return [(name, t) for (name, _, _), t in zip(specs, tensors, strict=True)]
    sizes = [math.prod(shape) * torch.empty((), dtype=dtype).element_size() for _, dtype, shape in specs]
    flat = torch.empty(sum(sizes), dtype=torch.uint8)
    torch.distributed.broadcast(flat, src=0, group=group)
    named, start = [], 0
    for (name, dtype, shape), size in zip(specs, sizes, strict=True):
        named.append((name, flat[start : start + size].view(dtype).view(shape)))
        start += size
    return named


def _fields(body: Any, endpoint: str, known: set[str]) -> dict[str, Any]:
    """The body as a dict whose keys SGLang's request class has (``rid`` and ``http_worker_ipc`` are every
    request's); SGLang's request structs are strict, so an unknown field is a 400 naming it."""
    body = body or {}
    if not isinstance(body, dict):
        raise WeightUpdateError(f"{endpoint}: the body must be a JSON object")
    unknown = sorted(set(body) - known - {"rid", "http_worker_ipc"})
    if unknown:
        raise WeightUpdateError(f"{endpoint}: unknown field {unknown[0]!r}; expected one of {sorted(known)}")
    return body


def _dtype(name: Any) -> torch.dtype:
    dtype = getattr(torch, str(name), None)
    if not isinstance(dtype, torch.dtype):
        raise WeightUpdateError(f"dtype {name!r} is not a torch dtype name (e.g. 'bfloat16')")
    return dtype
