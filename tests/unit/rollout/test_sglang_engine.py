"""The engine lifecycle (start, health, death, restart) and the Ray actor path, run on CPU with
``megatron-mmupt serve`` as the server command: it speaks the same HTTP API as ``sglang.launch_server``."""

import dataclasses
import os
import signal
import sys

import pytest

from megatron_mmupt.rollout.engine import EngineUnavailable, SamplingConfig
from megatron_mmupt.rollout.sglang.args import SGLangConfig
from megatron_mmupt.rollout.sglang.client import SGLangClient
from megatron_mmupt.rollout.sglang.ray_engine import SGLangServer, launch_engines, local_serve_command

SAMPLING = SamplingConfig(n=2, max_new_tokens=4)


@pytest.mark.slow
def test_start_death_and_restart(tiny_model_dir, prompt_batch, tmp_path):
    server = SGLangServer(SGLangConfig(model_path=str(tiny_model_dir)), seed=1, command=local_serve_command,
                          startup_timeout_s=120, log_dir=str(tmp_path))  # fmt: skip
    url = server.start()
    try:
        client = SGLangClient(SGLangClient.Config(url=url, model_path=str(tiny_model_dir), max_retries=0))
        assert client.generate(prompt_batch, SAMPLING)
        os.kill(server.pid, signal.SIGKILL)  # the engine dies
        server.process.wait()
        assert not server.alive()
        with pytest.raises(EngineUnavailable):
            client.generate(prompt_batch, SAMPLING)
        new_url = server.restart()
        client = SGLangClient(dataclasses.replace(client.config, url=new_url))
        assert client.health().healthy and client.generate(prompt_batch, SAMPLING)
    finally:
        server.stop()
    assert not server.alive() and "megatron-mmupt serve" in server.log_tail()


def test_a_server_that_fails_to_start_reports_its_log(tmp_path):
    failing = lambda args: [sys.executable, "-c", "import sys; print('no GPU here'); sys.exit(3)"]  # noqa: E731
    server = SGLangServer(SGLangConfig(model_path="m"), seed=1, command=failing, log_dir=str(tmp_path))
    with pytest.raises(EngineUnavailable, match="exited with code 3:\nno GPU here"):
        server.start()


@pytest.mark.slow
def test_ray_actor_engines(tiny_model_dir, prompt_batch):
    import ray  # a requirement: never skipped

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        client = SGLangClient.Config(model_path=str(tiny_model_dir), send_seeds=True, suppress_special_tokens=False)
        (engine,) = launch_engines(1, SGLangConfig(model_path=str(tiny_model_dir)), client, seed=1,
                                   command=local_serve_command, startup_timeout_s=120)  # fmt: skip
        # The server runs in the actor's process tree; requests go from here straight to it over HTTP.
        groups = engine.generate(prompt_batch, SAMPLING)
        assert [g.prompt_id for g in groups] == [p.id for p in prompt_batch]
        assert engine.health().healthy and engine.weight_version == 0
        engine.shutdown()
        with pytest.raises(EngineUnavailable):
            engine.client.post("/health", method="GET")
    finally:
        ray.shutdown()
