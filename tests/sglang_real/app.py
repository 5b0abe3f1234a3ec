"""SGLang 0.5.23's own HTTP server on this CPU, with only the model and the token sampling faked.

    python tests/sglang_real/app.py --model-path DIR --port P      # PYTHONPATH: the sglang site + this folder

What runs for real (SGLang's code, unchanged): the FastAPI ``app`` of ``entrypoints/http_server.py`` and its routes
(served by uvicorn, as ``launch_server`` serves it), the ``io_struct`` request classes (strict msgspec structs),
``ServerArgs`` from ``prepare_server_args``, the ``TokenizerManager``'s control methods and their
``FanOutCommunicator``s (the model-update lock, pause handling, weight versions), the scheduler's
``SchedulerWeightUpdaterManager`` (the update session and its refusals), the ``TpModelWorker`` weight methods
(``deserialize_own_rank`` with ``SafeUnpickler``), the model runner's ``WeightUpdater`` (the disk loader with its
safetensors iterator, ``FlattenedTensorBucket``, ``init_custom_process_group`` on gloo, broadcast receive).

What is faked, each in one place below:
* the model (``RecordingModel``): ``load_weights`` records every tensor it receives; the test reads the record
  back (``GET /_test/loaded``, the one route added to SGLang's app) and compares it bit for bit with what it sent;
* the scheduler process (``InProcessScheduler``): SGLang's ZMQ hop becomes one worker thread that hands each
  request to the real handler (the same type -> handler pairs as ``Scheduler._request_dispatcher``) and the reply
  back to the TokenizerManager's result dispatcher; its ``record_weight_version_change`` does the version override
  the real one does, without live requests to re-tag;
* generation: not wired (``/generate`` and the health check need the full scheduler loop); see docs/rollout.md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import faulthandler
import hashlib
import logging
import os
import signal
import sys
import types
from typing import Any

import stubs
import torch

logger = logging.getLogger("sglang_real")


class RecordingModel(torch.nn.Module):
    """The fake model: remembers what ``load_weights`` received (name, dtype, shape, sha256 of the bytes)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[dict[str, Any]] = []

    def load_weights(self, weights) -> None:
        for name, tensor in weights:
            data = tensor.detach().contiguous().cpu()
            digest = hashlib.sha256(data.view(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
            self.loaded.append({"name": name, "dtype": str(data.dtype).removeprefix("torch."),
                                "shape": list(data.shape), "sha256": digest})  # fmt: skip


def build_weight_updater(model_config: Any, model: RecordingModel) -> Any:
    """SGLang's model-runner ``WeightUpdater`` (real) over the fake model, on the CPU."""
    from sglang.srt.model_executor.model_runner_components.weight_updater import WeightUpdater

    return WeightUpdater(
        tp_rank=0, device="cpu", gpu_id=0, model_config=model_config,
        custom_weight_loaders={}, get_model=lambda: model, update_model_fields=lambda *a, **k: None,
        recapture_cuda_graph=lambda: None, get_model_runner=lambda: None,
    )  # fmt: skip


class FakeTpWorker:
    """The target TP worker: SGLang's own ``TpModelWorker`` methods bound to a runner that holds the real
    ``WeightUpdater`` (the worker's constructor would load a real model on a GPU)."""

    def __init__(self, weight_updater: Any) -> None:
        from sglang.srt.managers.tp_worker import TpModelWorker

        self.model_runner = self._model_runner = types.SimpleNamespace(weight_updater=weight_updater)
        for name in ("init_weights_update_group", "destroy_weights_update_group", "deserialize_own_rank",
                     "weight_update_runners"):  # fmt: skip
            setattr(self, name, types.MethodType(getattr(TpModelWorker, name), self))


class InProcessScheduler:
    """The scheduler process's control plane in one worker thread (see the module docstring)."""

    def __init__(self, weight_updater: Any, loop: asyncio.AbstractEventLoop, deliver) -> None:
        import torch.distributed as dist
        from sglang.srt.managers import io_struct as io
        from sglang.srt.managers.scheduler_components import weight_updater as wu
        from sglang.srt.runtime_context import get_context

        self._get_context = get_context
        tp_group = types.SimpleNamespace(cpu_group=dist.group.WORLD)
        original = wu.get_parallel
        wu.get_parallel = lambda: types.SimpleNamespace(tp_group=tp_group)  # only while it is built
        try:
            self.manager = wu.SchedulerWeightUpdaterManager(
                tp_worker=FakeTpWorker(weight_updater), draft_worker=None, memory_saver_adapter=None,
                flush_cache=lambda **k: True, is_fully_idle=lambda **k: True, scheduler=self,
            )  # fmt: skip
        finally:
            wu.get_parallel = original
        m = self.manager
        self.handlers = {
            io.UpdateWeightFromDiskReqInput: m.update_weights_from_disk,
            io.InitWeightsUpdateGroupReqInput: m.init_weights_update_group,
            io.DestroyWeightsUpdateGroupReqInput: m.destroy_weights_update_group,
            io.BeginWeightUpdateReqInput: m.begin_weight_update,
            io.EndWeightUpdateReqInput: m.end_weight_update,
            io.UpdateWeightsFromDistributedReqInput: m.update_weights_from_distributed,
            io.UpdateWeightsFromTensorReqInput: m.update_weights_from_tensor,
        }
        self.loop, self.deliver = loop, deliver
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler")

    def send(self, request: Any) -> None:
        """``TokenizerManager._dispatch_to_scheduler``: the reply arrives later, as it would over ZMQ."""
        self.pool.submit(self._handle, request)

    def _handle(self, request: Any) -> None:
        try:
            reply = self.handlers[type(request)](request)
        except BaseException:  # SGLang's scheduler process dies on an uncaught error, and so does this server
            logger.exception("scheduler: %s failed", type(request).__name__)
            os._exit(1)
        self.loop.call_soon_threadsafe(self.deliver, reply)

    def record_weight_version_change(self, new_version: str | None) -> None:
        if new_version is not None:
            self._get_context().override("scheduler.weight_version", weight_version=new_version)


def build_tokenizer_manager(server_args: Any, loop: asyncio.AbstractEventLoop, model: RecordingModel) -> Any:
    """SGLang's ``TokenizerManager`` with its control methods, without ZMQ sockets, tokenizer or handle loop."""
    from sglang.srt.configs.model_config import ModelConfig
    from sglang.srt.managers.tokenizer_manager import TokenizerManager
    from sglang.srt.utils.aio_rwlock import RWLock

    tm = TokenizerManager.__new__(TokenizerManager)
    tm.server_args = server_args
    tm.model_path = server_args.model_path
    tm.served_model_name = server_args.served_model_name or server_args.model_path
    tm.model_config = ModelConfig.from_server_args(server_args)  # the real config of the served HF folder
    tm.is_generation = tm.model_config.is_generation
    tm.event_loop = loop  # the handle loop reads ZMQ; here replies are delivered directly
    tm.is_pause = False
    tm.is_pause_cond = asyncio.Condition()
    tm.model_update_lock = RWLock()
    tm.mm_processor = None
    tm.elastic_worker_count = 1  # one scheduler (dp_size 1, as weight updates require)
    scheduler = InProcessScheduler(
        build_weight_updater(tm.model_config, model), loop, lambda r: tm._result_dispatcher(r)
    )
    tm._dispatch_to_scheduler = scheduler.send  # before the communicators are built: they capture it
    tm.init_request_dispatcher()  # SGLang's reply routing (disk-update replies, ...) and its communicators
    return tm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack (a hung request)
    stubs.install()
    import torch.distributed as dist
    import uvicorn
    from sglang.srt.entrypoints import http_server as hs
    from sglang.srt.runtime_context import get_parallel, publish
    from sglang.srt.server_args import prepare_server_args

    server_args = prepare_server_args(["--model-path", args.model_path, "--port", str(args.port),
                                       "--weight-version", "0", "--device", "cpu"])  # fmt: skip
    publish(server_args, role="tokenizer")
    get_parallel().override_permanently(tp_rank=0)  # the scheduler process's place in its (one-rank) TP group
    store = dist.HashStore()
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)  # WeightUpdater asserts a default group
    model = RecordingModel()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    tm = build_tokenizer_manager(server_args, loop, model)
    hs.set_global_state(hs._GlobalState(tokenizer_manager=tm, template_manager=None, scheduler_info={}))
    hs.app.router.lifespan_context = _no_lifespan  # SGLang's lifespan builds the OpenAI handlers and warmup
    hs.app.add_api_route("/_test/loaded", lambda: _drain(model), methods=["GET"])
    config = uvicorn.Config(hs.app, host="127.0.0.1", port=args.port, log_level="warning", loop="asyncio")
    print(f"sglang-real ready on {args.port}", flush=True)
    loop.run_until_complete(uvicorn.Server(config).serve())


def _drain(model: RecordingModel) -> list[dict[str, Any]]:
    out, model.loaded = model.loaded, []
    return out


class _no_lifespan:
    def __init__(self, app: Any) -> None:
        pass

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
