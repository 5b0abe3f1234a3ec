"""The SGLang engine as a ``RolloutEngine``: HTTP calls to one SGLang server (or to ``megatron-mmupt serve``).

Generation sends one ``/generate`` request per sample (n=1, a ``rid`` naming the prompt and sample, and
the sample's seed when ``send_seeds``), ``max_concurrency`` at a time, and reads the token ids and
log-probs from ``output_token_logprobs``. Images travel as PNG data URIs rebuilt exactly from the prompt's
patches (``image_codec``). Special tokens are suppressed with ``logit_bias`` (``token_policy``); note that
SGLang then reports log-probs under the suppressed distribution, ``log p(y) - log(1 - p(suppressed))``
(``docs/rollout.md``, "Log-probs"). Weight updates go through ``weight_transport`` (``sglang.transports``).

Every call has a timeout and bounded retries (``http_json``): a dead server raises ``EngineUnavailable``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from megatron_mmupt.config.configurable import ConfigError, Configurable, check_positive, check_range
from megatron_mmupt.data.prompt_batch import Prompt, PromptBatch
from megatron_mmupt.rollout.engine import (
    EngineError,
    EngineHealth,
    MemoryTag,
    SamplingConfig,
    WeightBucket,
    check_batch,
    memory_tags,
    sample_seed,
)
from megatron_mmupt.rollout.sglang.http_json import EngineRequestError, request_json
from megatron_mmupt.rollout.sglang.image_codec import images_from_patches, to_data_uri
from megatron_mmupt.rollout.sglang.protocol import generate_request, rollout_from_response
from megatron_mmupt.rollout.sglang.transports.calls import ServerEndpoint, update_from_disk
from megatron_mmupt.rollout.sglang.transports.single import (
    DiskTransport,
    DistributedTransport,
    TensorTransport,
    WeightTransportConfig,
    build_transport,
)
from megatron_mmupt.rollout.token_policy import TokenPolicy, load_token_policy
from megatron_mmupt.rollout.types import Rollout, RolloutGroup
from megatron_mmupt.rollout.weights import read_checkpoint_spec


class SGLangClient(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        url: str = "http://127.0.0.1:30000"
        """Base URL of the engine (one SGLang server; the router does not proxy weight updates)."""
        model_path: str = ""
        """The served model's HF folder as this process sees it: tokenizer (suppressed ids), image
        processor (images from patches), safetensors headers (names and shapes checked before a sync)."""
        request_timeout_s: float = 600.0
        """Limit of one ``/generate`` attempt."""
        control_timeout_s: float = 300.0
        """Limit of one weight, memory, pause, flush or health call."""
        max_retries: int = 3
        """Attempts after the first on a connection error, timeout or HTTP 5xx."""
        retry_backoff_s: float = 0.5
        """Wait before the first retry; doubles with each further one."""
        tp_size: int = 1
        """TP ranks of the server (a tensor weight update carries one payload per rank)."""
        max_concurrency: int = 64
        """``/generate`` requests in flight at once."""
        send_seeds: bool = False
        """Send each sample's seed as ``sampling_seed`` (SGLang honours it with ``--enable-deterministic-inference``)."""
        suppress_special_tokens: bool = True
        """Send ``logit_bias`` that forbids added/special tokens and padded rows (never in a response)."""
        weight_transport: WeightTransportConfig = dataclasses.field(default_factory=WeightTransportConfig)
        """How ``update_weights`` moves buckets: disk (any host), tensor (CUDA IPC), distributed (NCCL)."""

        def __post_init__(self) -> None:
            if not self.url.startswith(("http://", "https://")):
                raise ConfigError(f"url={self.url!r} must start with http:// or https://")
            for key in ("request_timeout_s", "control_timeout_s", "max_concurrency", "tp_size"):
                check_positive(key, getattr(self, key))
            check_range("max_retries", self.max_retries, 0, 100)
            check_range("retry_backoff_s", self.retry_backoff_s, 0.0)

    def __init__(self, config: Config) -> None:
        if not config.model_path:
            raise ConfigError("model_path is empty; set it to the served model's HF folder")
        self.config = config
        self.url = config.url.rstrip("/")
        self.token_policy: TokenPolicy = load_token_policy(config.model_path)
        self.image_processor = _image_processor(config.model_path)
        self.checkpoint_spec = read_checkpoint_spec(config.model_path)
        self._transport: DiskTransport | TensorTransport | DistributedTransport | None = None

    # --- HTTP ---------------------------------------------------------------------------------------

    def post(self, path: str, body: Any = None, *, method: str = "POST", timeout_s: float | None = None) -> Any:
        """One call with the control timeout and retries (``http_json.request_json``)."""
        return request_json(
            self.url + path,
            body,
            method=method,
            timeout_s=timeout_s or self.config.control_timeout_s,
            retries=self.config.max_retries,
            backoff_s=self.config.retry_backoff_s,
        )

    # --- generation ---------------------------------------------------------------------------------

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        """``sampling.n`` requests per prompt; the first failing request cancels the rest and raises."""
        check_batch(batch)
        bias = self.token_policy.logit_bias(sampling.stop_token_ids) if self.config.suppress_special_tokens else None
        nonce = uuid.uuid4().hex[:8]
        bodies = []
        for prompt in batch:
            images = self._image_data(prompt)
            for j in range(sampling.n):
                seed = sample_seed(sampling.seed, batch, prompt.id, j) if self.config.send_seeds else None
                rid = f"{prompt.id}/{j}/{nonce}"
                bodies.append(
                    generate_request(prompt, rid=rid, sampling=sampling, image_data=images, seed=seed, logit_bias=bias)
                )
        rollouts = self._send_all(bodies)
        return [
            RolloutGroup(
                p.id,
                tuple(rollouts[i * sampling.n : (i + 1) * sampling.n]),
                p.answer,
                p.choices,
                num_prompt_tokens=p.num_tokens,
            )
            for i, p in enumerate(batch)
        ]

    def _image_data(self, prompt: Prompt) -> list[str]:
        if not prompt.num_images:
            return []
        if self.image_processor is None:
            raise ConfigError(f"prompt {prompt.id!r} has images but {self.config.model_path} has no image processor")
        return [
            to_data_uri(i)
            for i in images_from_patches(prompt.pixel_values, prompt.image_grid_thw, self.image_processor)
        ]

    def _send_all(self, bodies: list[dict[str, Any]]) -> list[Rollout]:
        workers = min(self.config.max_concurrency, len(bodies))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sglang-generate") as pool:
            futures = [pool.submit(self._generate_one, body) for body in bodies]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _generate_one(self, body: dict[str, Any]) -> Rollout:
        try:
            response = request_json(
                self.url + "/generate",
                body,
                timeout_s=self.config.request_timeout_s,
                retries=self.config.max_retries,
                backoff_s=self.config.retry_backoff_s,
            )
        except EngineRequestError as e:
            raise EngineRequestError(f"request {body['rid']!r}: {e}", e.status) from None
        if isinstance(response, list):  # a server answering n=1 with a one-element list
            response = response[0]
        return rollout_from_response(response)

    # --- weights ------------------------------------------------------------------------------------

    def update_weights(self, buckets: Iterable[WeightBucket], *, version: int) -> None:
        """Send buckets through the configured transport; the version changes with the last bucket."""
        if self._transport is None:  # built on first use: a client that only generates needs no transport
            self._transport = build_transport(self.config.weight_transport)
        self._transport.send(self, buckets, version=version, spec=self.checkpoint_spec)

    def close(self) -> None:
        """Release what the weight transport holds (the distributed transport's group, on both sides)."""
        if self._transport is not None:
            self._transport.close()
        self._transport = None

    def __enter__(self) -> SGLangClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update_weights_from_disk(self, path: str | Path, *, version: int) -> None:
        """The server loads the ``*.safetensors`` of ``path`` (a path as the *server* sees it)."""
        update_from_disk(self.endpoint, path, version=version)

    @property
    def endpoint(self) -> ServerEndpoint:
        """This server for a weight sender in another process (the actor's ranks)."""
        c = self.config
        return ServerEndpoint(self.url, c.tp_size, c.control_timeout_s, c.max_retries, c.retry_backoff_s)

    def get_weights_by_name(self, name: str, truncate_size: int = 100) -> list[float]:
        """The first ``truncate_size`` values of weight ``name`` as the server holds it (SGLang implements this for
        some model families only; it answers 400 for the others)."""
        values = self.post("/get_weights_by_name", {"name": name, "truncate_size": truncate_size})
        if not isinstance(values, list):
            raise EngineError(f"/get_weights_by_name {name!r} answered {values!r}, not a list of values")
        return [float(v) for v in values]

    @property
    def weight_version(self) -> int:
        version = self.model_info().get("weight_version")
        return int(version) if isinstance(version, str) and version.isdigit() else 0

    def model_info(self) -> dict[str, Any]:
        return self.post("/model_info", method="GET")

    # --- control ------------------------------------------------------------------------------------

    def release_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self.post("/release_memory_occupation", {"tags": [t.value for t in memory_tags(tags)]})

    def resume_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self.post("/resume_memory_occupation", {"tags": [t.value for t in memory_tags(tags)]})

    def pause_generation(self, mode: str = "abort") -> None:
        self.post("/pause_generation", {"mode": mode})

    def continue_generation(self) -> None:
        self.post("/continue_generation", {})

    def flush_cache(self) -> None:
        """SGLang refuses (400) while requests run; retry until ``control_timeout_s`` has passed."""
        deadline = time.monotonic() + self.config.control_timeout_s
        while True:
            try:
                self.post("/flush_cache")
                return
            except EngineRequestError as e:
                if e.status != 400 or time.monotonic() > deadline:
                    raise
                time.sleep(self.config.retry_backoff_s)

    def health(self) -> EngineHealth:
        """``/health_generate`` (a one-token generation) and the served weight version."""
        try:
            self.post("/health_generate", method="GET")
            return EngineHealth(True, self.weight_version, detail=f"sglang {self.url}")
        except EngineError as e:
            return EngineHealth(False, -1, detail=f"sglang {self.url}: {e}")

    def shutdown(self) -> None:
        """The client owns no server (``sglang.process.SGLangServer`` does); nothing to stop."""


def _image_processor(model_path: str) -> Any | None:
    from transformers import AutoConfig, AutoImageProcessor

    if getattr(AutoConfig.from_pretrained(model_path), "vision_config", None) is None:
        return None
    return AutoImageProcessor.from_pretrained(model_path)
