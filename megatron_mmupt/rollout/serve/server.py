"""``megatron-mmupt serve``: the local engine behind the subset of SGLang's HTTP API that our client uses.

Same paths, same request and response fields as SGLang 0.5.23 (``shared/sglang-api.md``), so CI tests the
SGLang client (``sglang.client``) over loopback against a real server, weight updates included. Standard
library only (``http.server``, one thread per connection); samples are batched by ``serve.scheduler``.

Served: ``/generate``, ``/update_weights_from_disk``, ``/release_memory_occupation``,
``/resume_memory_occupation``, ``/pause_generation``, ``/continue_generation``, ``/flush_cache``, ``/health``,
``/health_generate``, ``/model_info`` (and its old name ``/get_model_info``), and the weight endpoints of
``serve.weights``: ``/begin_weight_update`` and ``/end_weight_update`` (the update session SGLang 0.5.23 enforces),
``/update_weights_from_tensor`` (shared-memory handles from a process on this host),
``/init_weights_update_group``, ``/update_weights_from_distributed``, ``/destroy_weights_update_group``
(a gloo group on CPU), ``/get_weights_by_name``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from megatron_mmupt.config.configurable import ConfigError, Configurable, check_range
from megatron_mmupt.data.prompt_batch import Prompt
from megatron_mmupt.rollout.engine import EngineError, WeightUpdateError
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.rollout.serve.requests import PromptBuilder, fresh_seed, parse_generate, parse_version
from megatron_mmupt.rollout.serve.scheduler import Job, Scheduler
from megatron_mmupt.rollout.serve.weights import WeightReceiver
from megatron_mmupt.rollout.sglang.protocol import GenerateItem, RequestError, generate_response
from megatron_mmupt.utils.errors import InputError

logger = logging.getLogger(__name__)

PROMPT_CACHE_SIZE = 256
"""Prompts (tokenized, images processed) kept for the next samples of the same prompt."""


class RolloutServer(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        engine: LocalEngine.Config = dataclasses.field(default_factory=LocalEngine.Config)
        """The engine served (``model_path``, device, dtype, ...)."""
        host: str = "127.0.0.1"
        """Address to listen on; loopback by default (the API has no authentication)."""
        port: int = 30000
        """Port to listen on (SGLang's default); 0 picks a free one."""
        batch_window_s: float = 0.005
        """After the first sample of a batch, wait this long for more before decoding."""

        def __post_init__(self) -> None:
            check_range("port", self.port, 0, 65535)
            check_range("batch_window_s", self.batch_window_s, 0.0, 10.0)

    def __init__(self, config: Config, *, engine: LocalEngine | None = None) -> None:
        self.config = config
        self.engine = engine if engine is not None else config.engine.build()
        self.prompts = _prompt_builder(self.engine)
        self.scheduler = Scheduler(self.engine, config.batch_window_s)
        self.weights = WeightReceiver(self.engine)
        self._cache: collections.OrderedDict[tuple, Prompt] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self.httpd = _HTTPServer((config.host, config.port), _Handler)
        self.httpd.app = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RolloutServer:
        """Serve from a background thread (tests, benchmarks); ``serve_forever`` blocks instead."""
        self.scheduler.start()
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="rollout-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.scheduler.start()
        try:
            self.httpd.serve_forever()
        finally:
            self.close()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=30)
            self._thread = None
        self.httpd.server_close()
        self.scheduler.stop()

    # --- routes: each returns (status, JSON-able body or text) --------------------------------------------

    def generate(self, body: Any) -> tuple[int, Any]:
        started = time.monotonic()
        items, as_list = parse_generate(body, self.engine.token_policy.vocab_size)
        jobs = [Job(item, self._prompt(item), fresh_seed() if item.seed is None else item.seed) for item in items]
        self.scheduler.run(jobs)
        for job in jobs:
            if job.error is not None:
                raise job.error
        version = self.engine.weight_version
        latency = time.monotonic() - started
        out = [
            generate_response(
                job.item,
                job.rollout,
                text=self._text(job),
                prompt_tokens=job.prompt.num_tokens,
                weight_version=version,
                latency_s=latency,
            )
            for job in jobs
        ]
        return HTTPStatus.OK, out if as_list else out[0]

    def _prompt(self, item: GenerateItem) -> Prompt:
        key = item.prompt_key
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                cached = self._cache[key]
                return dataclasses.replace(cached, id=item.rid)
        prompt = self.prompts.build(item)
        with self._cache_lock:
            self._cache[key] = prompt
            if len(self._cache) > PROMPT_CACHE_SIZE:
                self._cache.popitem(last=False)
        return prompt

    def _text(self, job: Job) -> str:
        ids = list(job.rollout.response_token_ids)
        if job.rollout.finish_reason.value == "stop" and not job.item.no_stop_trim:
            ids = ids[:-1]
        return self.engine.tokenizer.decode(ids, skip_special_tokens=job.item.skip_special_tokens)

    def update_weights_from_disk(self, body: Any) -> tuple[int, Any]:
        path = body.get("model_path")
        if not isinstance(path, str) or not path:
            raise RequestError("model_path is required")
        version = parse_version(body.get("weight_version"), self.engine.weight_version)
        abort = bool(body.get("abort_all_requests", False)) and not self.engine.paused
        if abort:
            self.engine.pause_generation("abort")
        try:
            self.engine.update_weights_from_disk(path, version=version)
        finally:
            if abort:
                self.engine.continue_generation()
        return HTTPStatus.OK, {
            "success": True,
            "message": f"loaded {path} as version {version}",
            "num_paused_requests": 0,
        }

    def memory(self, body: Any, release: bool) -> tuple[int, Any]:
        tags = (body or {}).get("tags")
        (self.engine.release_memory_occupation if release else self.engine.resume_memory_occupation)(tags)
        return HTTPStatus.OK, None

    def pause(self, body: Any) -> tuple[int, Any]:
        self.engine.pause_generation((body or {}).get("mode", "abort"))
        return HTTPStatus.OK, {"message": "Generation paused successfully.", "status": "ok"}

    def resume(self, body: Any) -> tuple[int, Any]:
        self.engine.continue_generation()
        return HTTPStatus.OK, {"message": "Generation continued successfully.", "status": "ok"}

    def flush_cache(self, body: Any) -> tuple[int, Any]:
        if self.scheduler.busy:  # SGLang refuses while requests run; callers retry
            return HTTPStatus.BAD_REQUEST, "Cache not flushed because there are pending requests."
        self.engine.flush_cache()
        return HTTPStatus.OK, "Cache flushed.\nPlease check backend logs for more details."

    def health(self, body: Any) -> tuple[int, Any]:
        if self.scheduler.busy:  # as SGLang: a busy server that makes progress is healthy
            return HTTPStatus.OK, ""
        ok = self.engine.health().healthy
        return (HTTPStatus.OK, "") if ok else (HTTPStatus.SERVICE_UNAVAILABLE, "")

    def model_info(self, body: Any) -> tuple[int, Any]:
        config = self.engine.model.config
        return HTTPStatus.OK, {
            "model_path": self.config.engine.model_path,
            "served_model_name": self.config.engine.model_path,
            "tokenizer_path": self.config.engine.model_path,
            "is_generation": True,
            "preferred_sampling_params": None,
            "weight_version": str(self.engine.weight_version),
            "has_image_understanding": self.prompts.image_processor is not None,
            "has_audio_understanding": False,
            "model_type": config.model_type,
            "architectures": list(config.architectures or []),
        }


def _prompt_builder(engine: LocalEngine) -> PromptBuilder:
    config = engine.model.config
    if getattr(config, "vision_config", None) is None:
        return PromptBuilder(engine.tokenizer, None, None)
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(engine.config.model_path)
    return PromptBuilder(engine.tokenizer, processor, int(config.image_token_id))


ROUTES = {
    "/generate": lambda app, body: app.generate(body),
    "/update_weights_from_disk": lambda app, body: app.update_weights_from_disk(body),
    "/release_memory_occupation": lambda app, body: app.memory(body, release=True),
    "/resume_memory_occupation": lambda app, body: app.memory(body, release=False),
    "/pause_generation": lambda app, body: app.pause(body),
    "/continue_generation": lambda app, body: app.resume(body),
    "/flush_cache": lambda app, body: app.flush_cache(body),
    "/health": lambda app, body: app.health(body),
    "/health_generate": lambda app, body: app.health(body),
    "/model_info": lambda app, body: app.model_info(body),
    "/get_model_info": lambda app, body: app.model_info(body),
    "/begin_weight_update": lambda app, body: app.weights.begin(body),
    "/end_weight_update": lambda app, body: app.weights.end(body),
    "/update_weights_from_tensor": lambda app, body: app.weights.from_tensor(body),
    "/init_weights_update_group": lambda app, body: app.weights.init_group(body),
    "/update_weights_from_distributed": lambda app, body: app.weights.from_distributed(body),
    "/destroy_weights_update_group": lambda app, body: app.weights.destroy_group(body),
    "/get_weights_by_name": lambda app, body: app.weights.weights_by_name(body),
}


class _HTTPServer(ThreadingHTTPServer):
    """One thread per connection, and uvicorn's listen backlog (2048; ``socketserver``'s default is 5): a client
    opening its 64 connections at once must queue, not get "connection reset by peer" (issue 24, defect 7)."""

    request_queue_size = 2048
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            body = self._body()
            if path not in ROUTES:
                self._send(
                    HTTPStatus.NOT_FOUND, {"error": {"message": f"{path} is not served by megatron-mmupt serve"}}
                )
            else:
                self._send(*ROUTES[path](self.server.app, body))  # type: ignore[attr-defined]
        except RequestError as e:
            self._send(HTTPStatus.BAD_REQUEST, e.body)
        except (InputError, ConfigError, WeightUpdateError) as e:
            self._send(HTTPStatus.BAD_REQUEST, _error(path, e))
        except (EngineError, Exception) as e:  # the server stays up; the client sees a 500 and may retry
            logger.exception("%s failed", path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": {"message": f"{type(e).__name__}: {e}"}})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            return json.loads(self.rfile.read(length))
        except json.JSONDecodeError as e:
            raise RequestError(f"the body is not JSON: {e}") from None

    def _send(self, status: int, payload: Any) -> None:
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _error(path: str, error: Exception) -> dict[str, Any]:
    if path.startswith(("/update_weights", "/init_weights", "/destroy_weights", "/begin_weight", "/end_weight")):
        return {"success": False, "message": str(error)}
    return {"error": {"message": str(error)}}
