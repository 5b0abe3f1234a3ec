"""Our SGLang client and the actor ranks' weight senders against SGLang 0.5.23's own server code, on this CPU.

The server is ``tests/sglang_real/app.py``: SGLang's FastAPI app, request types, TokenizerManager control methods,
the scheduler's weight-update manager (with its update session) and the model runner's ``WeightUpdater``, with only
the model (it records what ``load_weights`` receives) and the scheduler's process boundary faked. SGLang comes from
``.venv/sglang-site`` (``make``: ``requirements-sglang.txt``, no dependencies); without it these tests fail.

Each transport must rebuild exactly the tensors sent: the recorded (name, dtype, shape, sha256 of the bytes) equal
the sender's. Without the update session SGLang refuses the tensor and distributed updates, so these tests fail on a
sender that forgets it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from megatron_mmupt.rollout.sglang.client import SGLangClient
from megatron_mmupt.rollout.sglang.http_json import request_json
from megatron_mmupt.rollout.sglang.transports.single import WeightTransportConfig

APP = Path(__file__).resolve().parents[2] / "sglang_real" / "app.py"
pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sglang_url(tiny_model_dir, tmp_path_factory, sglang_env):
    port = free_port()
    log = tmp_path_factory.mktemp("sglang") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(APP), "--model-path", str(tiny_model_dir), "--port", str(port)],
                                   env=sglang_env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            if process.poll() is not None:
                pytest.fail(f"SGLang's server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                request_json(url + "/model_info", method="GET", timeout_s=5, retries=0, backoff_s=0)
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"SGLang's server did not answer in 240 s:\n{log.read_text()[-4000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.kill()  # uvicorn's SIGTERM handler waits for open requests; this server holds no state worth it
        process.wait(timeout=30)


def recorded(url: str) -> list[tuple[str, str, tuple[int, ...], str]]:
    """What the fake model's ``load_weights`` received since the last call."""
    items = request_json(url + "/_test/loaded", method="GET", timeout_s=30, retries=0, backoff_s=0)
    return [(i["name"], i["dtype"], tuple(i["shape"]), i["sha256"]) for i in items]


def fingerprint(buckets) -> list[tuple[str, str, tuple[int, ...], str]]:
    out = []
    for bucket in buckets:
        for name, tensor in bucket:
            data = tensor.detach().contiguous()
            digest = hashlib.sha256(data.view(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
            out.append((name, str(data.dtype).removeprefix("torch."), tuple(data.shape), digest))
    return out


def trainer_buckets(model_dir: Path, seed: int) -> list[list[tuple[str, torch.Tensor]]]:
    """The served checkpoint's names and shapes with new values, in two buckets (as the bridge exports them)."""
    from safetensors.torch import load_file

    generator = torch.Generator().manual_seed(seed)
    named = sorted(load_file(str(model_dir / "model.safetensors")).items())
    named = [(n, torch.randn(t.shape, generator=generator).to(t.dtype)) for n, t in named]
    return [named[: len(named) // 2], named[len(named) // 2 :]]


def client(url: str, model_dir: Path, transport: WeightTransportConfig) -> SGLangClient:
    config = SGLangClient.Config(url=url, model_path=str(model_dir), max_retries=0, weight_transport=transport)
    return SGLangClient(config)


def test_the_update_session_is_sglangs(sglang_url):
    body = {"serialized_named_tensors": [""], "load_format": None}
    with pytest.raises(Exception, match=r"must run between begin_weight_update\(\) and end_weight_update\(\)"):
        request_json(sglang_url + "/update_weights_from_tensor", body, timeout_s=30, retries=0, backoff_s=0)


@pytest.mark.parametrize("kind", ["tensor", "distributed", "disk"])
def test_the_clients_transports_rebuild_exactly_the_tensors_sent(sglang_url, tiny_model_dir, tmp_path, kind):
    transport = WeightTransportConfig(kind=kind, disk_dir=str(tmp_path), backend="gloo", master_port=free_port())
    recorded(sglang_url)
    buckets = trainer_buckets(tiny_model_dir, seed=len(kind))
    with client(sglang_url, tiny_model_dir, transport) as sglang:
        sglang.update_weights(iter(buckets), version=len(kind))
        assert recorded(sglang_url) == fingerprint(buckets)
        assert sglang.weight_version == len(kind)  # parsed from SGLang's /model_info
        if kind == "distributed":  # a second sync reuses the group, in a new session
            sglang.update_weights(iter(buckets[:1]), version=11)
            assert recorded(sglang_url) == fingerprint(buckets[:1]) and sglang.weight_version == 11


def test_a_taken_group_name_fails_before_any_server_is_asked(sglang_url, tiny_model_dir, tmp_path):
    # A second group under a taken name would fail after SGLang joined the rendezvous, leaving the server waiting
    # for the group's timeout (minutes); the check comes first, and the server stays free for the next sync.
    transport = WeightTransportConfig(kind="distributed", backend="gloo", master_port=free_port())
    buckets = trainer_buckets(tiny_model_dir, seed=5)
    with client(sglang_url, tiny_model_dir, transport) as first:
        first.update_weights(iter(buckets), version=21)
        second = client(sglang_url, tiny_model_dir, dataclasses.replace(transport, master_port=free_port()))
        with pytest.raises(ValueError, match="already open in this process"):
            second.update_weights(iter(buckets), version=22)
        first.update_weights(iter(buckets[:1]), version=23)
        assert first.weight_version == 23


def test_model_info_is_parsed(sglang_url, tiny_model_dir):
    sglang = client(sglang_url, tiny_model_dir, WeightTransportConfig())
    info = sglang.model_info()
    assert info["architectures"] == ["Qwen2_5_VLForConditionalGeneration"] and info["has_image_understanding"]


def _push_from_actor_ranks(rank, world_size, url, model_dir, kind, disk_dir, version):
    """One actor rank's side of a sync (``WeightPusher``, as ``ActorWorker`` runs it), with fixed buckets as the
    export: rank 0 sends (and, for ``tensor``, is the engine's only feeder), rank 1 only takes part."""
    from megatron_mmupt.bridge.transports import SyncPlan, WeightPusher
    from megatron_mmupt.rollout.sglang.transports.calls import ServerEndpoint

    buckets = trainer_buckets(Path(model_dir), seed=version)
    plan = SyncPlan(transport=kind, targets=(ServerEndpoint(url, retries=0),), version=version, bucket_bytes=1 << 20,
                    checkpoint=model_dir, feeders=((0,),), disk_dir=disk_dir, backend="gloo",
                    group_name="actor-weights")  # fmt: skip
    pusher = WeightPusher(rank, world_size)
    report = pusher.push(plan, lambda receivers: iter(buckets))
    pusher.close()  # distributed: /destroy_weights_update_group
    return None if report is None else report.num_tensors


@pytest.mark.parametrize("kind", ["tensor", "distributed", "disk"])
def test_the_actor_ranks_senders_rebuild_exactly_the_tensors_sent(sglang_url, tiny_model_dir, tmp_path, kind):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "distributed"))  # tests/distributed/launch.py
    from launch import run_distributed

    recorded(sglang_url)
    version = 20 + len(kind)
    sent = run_distributed(_push_from_actor_ranks, 2, sglang_url, str(tiny_model_dir), kind, str(tmp_path), version,
                           timeout=240)  # fmt: skip
    buckets = trainer_buckets(tiny_model_dir, seed=version)
    assert sent[0] == sum(len(b) for b in buckets) and sent[1] is None
    assert recorded(sglang_url) == fingerprint(buckets)
    assert client(sglang_url, tiny_model_dir, WeightTransportConfig()).weight_version == version
