"""Faults end in a clear error or a retry, never a hang: a server killed mid-request, a server that never
answers, nothing listening, and an engine that dies inside a balancer."""

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from megatron_mmupt.rollout.balancer import EngineBalancer
from megatron_mmupt.rollout.engine import EngineUnavailable, SamplingConfig
from megatron_mmupt.rollout.sglang.client import SGLangClient
from megatron_mmupt.rollout.sglang.http_json import request_json
from megatron_mmupt.rollout.sglang.transports.single import WeightTransportConfig

SAMPLING = SamplingConfig(n=2, max_new_tokens=5, temperature=1.0, top_p=1.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(url, model_dir, **overrides):
    config = SGLangClient.Config(url=url, model_path=str(model_dir), send_seeds=True, suppress_special_tokens=False)
    return SGLangClient(dataclasses.replace(config, **overrides))


@pytest.fixture
def served_process(tiny_model_dir):
    """``megatron-mmupt serve`` as its own process, as a cluster would run an engine."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "megatron_mmupt.cli", "serve", "--model-path", str(tiny_model_dir), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            request_json(url + "/health", method="GET", timeout_s=2, retries=0, backoff_s=0)
            break
        except EngineUnavailable:
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode()
            time.sleep(0.2)
    yield process, url
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_server_killed_mid_request_ends_in_an_error_after_retries(served_process, tiny_model_dir, prompt_batch):
    process, url = served_process
    engine = client(url, tiny_model_dir, max_retries=2, retry_backoff_s=0.1, request_timeout_s=20)
    assert engine.generate(prompt_batch, SAMPLING)  # served and answering
    outcome = {}

    def generate_long():
        try:
            engine.generate(prompt_batch, dataclasses.replace(SAMPLING, max_new_tokens=1900))
        except EngineUnavailable as e:
            outcome["error"] = e

    worker = threading.Thread(target=generate_long)
    started = time.monotonic()
    worker.start()
    time.sleep(1.0)  # the requests are in flight: the tiny model needs seconds for 1900 tokens x 8 rows
    os.killpg(process.pid, signal.SIGKILL)
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert "failed after 3 attempts" in str(outcome["error"])
    assert time.monotonic() - started < 30


def test_a_server_that_never_answers_times_out(tiny_model_dir, prompt_batch):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        engine = client(url, tiny_model_dir, request_timeout_s=0.5, max_retries=1, retry_backoff_s=0.05)
        started = time.monotonic()
        with pytest.raises(EngineUnavailable, match=r"failed after 2 attempts \(timeout 0.5s each\): .*timed out"):
            engine.generate(prompt_batch, SAMPLING)
        assert time.monotonic() - started < 5


def test_nothing_listening_is_unavailable_at_once(tiny_model_dir, prompt_batch):
    engine = client(f"http://127.0.0.1:{free_port()}", tiny_model_dir, max_retries=1, retry_backoff_s=0.01)
    with pytest.raises(EngineUnavailable, match="ConnectionRefusedError"):
        engine.generate(prompt_batch, SAMPLING)
    assert not engine.health().healthy


def test_the_balancer_reroutes_a_dead_engines_prompts_and_restarts_it(engine, server, tiny_model_dir, prompt_batch):
    dead = client(f"http://127.0.0.1:{free_port()}", tiny_model_dir, max_retries=0)
    restarted = []

    def restart(index):
        restarted.append(index)
        return client(server.url, tiny_model_dir)  # a fresh engine at the checkpoint's weights (version 0)

    balancer = EngineBalancer.Config().build(engines=[dead, engine], restart=restart)
    groups = balancer.generate(prompt_batch, SAMPLING)
    # Seeds belong to samples: the rerouted prompts draw exactly what one engine alone draws.
    alone = engine.generate(prompt_batch, SAMPLING)
    assert [[r.response_token_ids for r in g.rollouts] for g in groups] == [
        [r.response_token_ids for r in g.rollouts] for g in alone
    ]
    assert restarted == [0] and balancer.health().healthy and "2/2 ready" in balancer.health().detail


def test_a_restarted_engine_waits_for_the_next_weight_sync(
    fresh_engine, server, tiny_model_dir, prompt_batch, tmp_path
):
    from safetensors.torch import load_file

    from megatron_mmupt.rollout.local.engine import LocalEngine

    weights = sorted(load_file(str(tiny_model_dir / "model.safetensors")).items())
    transport = WeightTransportConfig(disk_dir=str(tmp_path))
    remote = client(server.url, tiny_model_dir, max_retries=0, weight_transport=transport)
    restart = lambda index: LocalEngine.Config(model_path=str(tiny_model_dir)).build()  # noqa: E731 (at version 0)
    balancer = EngineBalancer.Config().build(engines=[remote, fresh_engine], restart=restart)
    balancer.update_weights([weights], version=3)
    assert server.engine.weight_version == 3 == fresh_engine.weight_version
    server.close()  # engine 0 dies
    assert len(balancer.generate(prompt_batch, SAMPLING)) == 4  # served by engine 1 alone
    assert "0: stale" in balancer.health().detail and "1: ready" in balancer.health().detail
    balancer.update_weights([weights], version=4)
    assert [e.weight_version for e in balancer.engines] == [4, 4]
    assert "2/2 ready" in balancer.health().detail


def test_no_engine_left_is_a_clear_error(tiny_model_dir, prompt_batch):
    dead = client(f"http://127.0.0.1:{free_port()}", tiny_model_dir, max_retries=0)
    balancer = EngineBalancer.Config(max_attempts=2).build(engines=[dead])
    with pytest.raises(EngineUnavailable, match="4 of 4 prompts not generated after 2 attempts"):
        balancer.generate(prompt_batch, SAMPLING)
