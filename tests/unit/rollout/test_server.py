"""The SGLang client against ``megatron-mmupt serve`` over loopback: generation with images, weight updates
through the HTTP path, control endpoints, and SGLang's request/response fields."""

import dataclasses
import json
import urllib.request

import pytest
import torch
from safetensors.torch import load_file

from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.rollout.engine import EngineError, RolloutEngine, SamplingConfig, WeightUpdateError
from megatron_mmupt.rollout.sglang.client import SGLangClient
from megatron_mmupt.rollout.sglang.http_json import EngineRequestError
from megatron_mmupt.rollout.sglang.transports.single import WeightTransportConfig

SAMPLING = SamplingConfig(n=3, max_new_tokens=6, temperature=0.8, top_p=0.95)


def client_for(server, tiny_model_dir, tmp_path, **overrides):
    config = SGLangClient.Config(
        url=server.url,
        model_path=str(tiny_model_dir),
        send_seeds=True,
        weight_transport=WeightTransportConfig(disk_dir=str(tmp_path / "sync")),
        max_retries=0,
    )
    return SGLangClient(dataclasses.replace(config, **overrides))


def post(server, path, body):
    request = urllib.request.Request(server.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_http_generation_with_images_equals_the_local_engine(server, tiny_model_dir, tmp_path, prompt_batch):
    client = client_for(server, tiny_model_dir, tmp_path, suppress_special_tokens=False)
    assert isinstance(client, RolloutEngine)
    remote = client.generate(prompt_batch, SAMPLING)
    local = server.engine.generate(prompt_batch, SAMPLING)  # same seeds, in process
    for r_group, l_group in zip(remote, local, strict=True):
        assert r_group.prompt_id == l_group.prompt_id and r_group.num_prompt_tokens == l_group.num_prompt_tokens
        for r, loc in zip(r_group.rollouts, l_group.rollouts, strict=True):
            assert r.response_token_ids == loc.response_token_ids and r.finish_reason is loc.finish_reason
            assert r.response_text == loc.response_text and r.weight_version == 0
            torch.testing.assert_close(torch.tensor(r.rollout_logprobs), torch.tensor(loc.rollout_logprobs))


def test_suppression_by_logit_bias_renormalizes_as_sglang_does(server, tiny_model_dir, tmp_path, prompt_batch,
                                                               reference_logprobs):  # fmt: skip
    client = client_for(server, tiny_model_dir, tmp_path)  # sends logit_bias for the suppressed tokens
    bias = torch.zeros(client.token_policy.vocab_size)
    bias[list(client.token_policy.suppressed_token_ids)] = -1e9
    groups = client.generate(prompt_batch, SAMPLING)
    for group, prompt in zip(groups, prompt_batch, strict=True):
        for rollout in group.rollouts:
            ids = list(rollout.response_token_ids)
            assert not set(ids) & set(client.token_policy.suppressed_token_ids)
            ref = reference_logprobs(server.engine.model, prompt, ids, SAMPLING.temperature, logit_bias=bias)
            torch.testing.assert_close(torch.tensor(rollout.rollout_logprobs), ref, atol=2e-5, rtol=0)
            full = reference_logprobs(server.engine.model, prompt, ids, SAMPLING.temperature)
            assert (ref > full).all()  # log p(y) - log(1 - p(suppressed)): the documented difference


def test_weights_updated_over_http_equal_the_trainers(server, tiny_model_dir, other_model_dir, tmp_path,
                                                      prompt_batch, reference_logprobs):  # fmt: skip
    client = client_for(server, tiny_model_dir, tmp_path, suppress_special_tokens=False)
    trainer = load_file(str(other_model_dir / "model.safetensors"))  # checkpoint names, as the bridge yields
    items = sorted(trainer.items())
    client.update_weights(iter([items[:20], items[20:]]), version=7)  # disk transport -> /update_weights_from_disk
    for name, tensor in trainer.items():
        assert torch.equal(server.engine.names.parameters[server.engine.names.resolve(name)].detach(), tensor), name
    assert client.weight_version == 7 and client.model_info()["weight_version"] == "7"
    groups = client.generate(prompt_batch, SAMPLING)
    for group, prompt in zip(groups, prompt_batch, strict=True):
        for rollout in group.rollouts:
            assert rollout.weight_version == 7
            ref = reference_logprobs(server.engine.model, prompt, list(rollout.response_token_ids), 0.8)
            torch.testing.assert_close(torch.tensor(rollout.rollout_logprobs), ref, atol=2e-5, rtol=0)
    assert sorted(p.name for p in (tmp_path / "sync").iterdir()) == ["v7"]


def test_a_bad_bucket_never_reaches_the_server(server, tiny_model_dir, tmp_path):
    client = client_for(server, tiny_model_dir, tmp_path)
    with pytest.raises(WeightUpdateError, match="tensor 'model.norm.weightt' .*did you mean 'model.norm.weight'"):
        client.update_weights([[("model.norm.weightt", torch.ones(128))]], version=1)
    assert not (tmp_path / "sync").exists() and client.weight_version == 0


def test_the_server_checks_disk_updates_too(server, tiny_model_dir, tmp_path):
    from megatron_mmupt.rollout.weights import write_safetensors_folder

    folder = write_safetensors_folder([[("model.norm.weight", torch.ones(64))]], tmp_path / "bad")
    status, body = post(server, "/update_weights_from_disk", {"model_path": str(folder), "weight_version": "4"})
    assert status == 400 and body["success"] is False
    assert "tensor 'model.norm.weight' (bucket 0): shape (64,) != the model's (128,)" in body["message"]
    client = client_for(server, tiny_model_dir, tmp_path)
    with pytest.raises(EngineError, match="shape"):
        client.update_weights_from_disk(folder, version=4)
    assert client.weight_version == 0


def test_control_endpoints(server, tiny_model_dir, tmp_path, prompt_batch):
    client = client_for(server, tiny_model_dir, tmp_path)
    client.flush_cache()
    client.pause_generation()
    assert server.engine.paused
    client.continue_generation()
    client.release_memory_occupation()
    assert server.engine.released
    client.resume_memory_occupation()
    assert not server.engine.released
    health = client.health()
    assert health.healthy and health.weight_version == 0
    info = client.model_info()
    assert info["has_image_understanding"] and info["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    assert post(server, "/begin_weight_update", {"selector": "all"}) == (200, {"success": True, "message": "Success"})
    status, body = post(server, "/update_weights_from_tensor", {"serialized_named_tensors": ["x"]})
    assert status == 400 and "serialized_named_tensors[0] is not a tensor payload" in body["message"]
    status, body = post(server, "/update_weights_from_distributed", {"names": [], "dtypes": [], "shapes": []})
    assert status == 400 and "call /init_weights_update_group first" in body["message"]
    assert post(server, "/end_weight_update", {})[0] == 200


def test_serve_enforces_the_update_session_as_sglang_does(server):
    # SGLang 0.5.23's scheduler (scheduler_components/weight_updater.py) refuses both in-place updates outside a
    # session, in these words; serve must too, or a sender that forgets the session passes every CPU test.
    for path, body in [("/update_weights_from_tensor", {"serialized_named_tensors": ["x"]}),
                       ("/update_weights_from_distributed", {"names": [], "dtypes": [], "shapes": []})]:  # fmt: skip
        status, answer = post(server, path, body)
        endpoint = path.removeprefix("/")
        message = f"{endpoint} must run between begin_weight_update() and end_weight_update()"
        assert (status, answer) == (400, {"success": False, "message": message})
    status, answer = post(server, "/end_weight_update", {})
    assert status == 400 and "no weight-update session is open" in answer["message"]
    status, answer = post(server, "/begin_weight_update", {"selector": "everything"})
    assert status == 400 and "invalid selector 'everything'" in answer["message"]
    status, answer = post(server, "/begin_weight_update", {"selectors": "all"})
    assert status == 400 and "unknown field 'selectors'" in answer["message"]
    assert post(server, "/begin_weight_update", {})[0] == 200
    status, answer = post(server, "/begin_weight_update", {})
    assert status == 400 and "already open" in answer["message"]
    assert post(server, "/end_weight_update", {})[0] == 200
    assert server.weights.session is None


def test_a_failed_sync_closes_its_session_and_raises_the_first_error(server, tiny_model_dir, tmp_path):
    client = client_for(server, tiny_model_dir, tmp_path, weight_transport=WeightTransportConfig(kind="tensor"))
    norm = server.engine.names.parameters[server.engine.names.resolve("model.norm.weight")]
    good = [("model.norm.weight", norm.detach().clone())]
    bad = [("model.norm.weight", torch.ones(3))]
    with pytest.raises(WeightUpdateError, match="shape"):  # the second bucket fails its check mid-session
        client.update_weights(iter([good, bad]), version=7)
    assert server.weights.session is None and client.weight_version == 0
    post(server, "/begin_weight_update", {})  # a session a dead sender left open: the next sync closes it first
    client.update_weights(iter([good]), version=8)
    assert server.weights.session is None and client.weight_version == 8


def test_sglang_batch_request_and_response_fields(server, prompt_batch):
    ids = [p.input_ids.tolist() for p in prompt_batch.prompts[:2]]
    # Expanded image pads travel as they are: the server re-expands each run from its own image processing.
    images = [["data:image/png;base64,"]] * 2
    status, body = post(server, "/generate", {"input_ids": ids, "image_data": images, "sampling_params": {}})
    assert status == 400 and "neither a path nor a decodable" in body["error"]["message"]
    text_ids = [[5, 6, 7], [8, 9]]
    params = {"n": 2, "max_new_tokens": 3, "temperature": 0, "stop_token_ids": []}
    status, body = post(server, "/generate", {"input_ids": text_ids, "sampling_params": params, "return_logprob": True})
    assert status == 200 and isinstance(body, list) and len(body) == 4
    first = body[0]
    assert set(first) == {"text", "output_ids", "meta_info"}
    meta = first["meta_info"]
    assert meta["finish_reason"] == {"type": "length", "length": 3} and meta["prompt_tokens"] == 3
    assert meta["completion_tokens"] == 3 and meta["weight_version"] == "0" and meta["input_token_logprobs"] == []
    assert [e[1] for e in meta["output_token_logprobs"]] == first["output_ids"]
    assert body[0]["output_ids"] == body[1]["output_ids"]  # greedy: the two samples of prompt 0 agree
    status, body = post(server, "/generate", {"input_ids": [5, 6], "sampling_params": {"max_new_tokens": 2}})
    assert status == 200 and isinstance(body, dict) and "output_token_logprobs" not in body["meta_info"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"input_ids": [1, 2], "sampling_params": {"seed": 3}}, 400, "unknown field `seed`, expected one of"),
        ({"input_ids": [1, 2], "sampling_params": {"min_p": 0.1}}, 400, "min_p=0.1 is not supported by serve"),
        ({"input_ids": [1, 2], "stream": True}, 400, "stream=true is not supported"),
        ({"text": "a", "input_ids": [1]}, 400, "exactly one of text or input_ids"),
        ({"input_ids": [1, 2], "sampling_params": {"top_p": 2}}, 400, "top_p=2 must lie in"),
        # defect 7: every malformed request is a 4xx that names its field, never a 500
        ({"input_ids": [1, 10**6]}, 400, "input_ids contains out-of-vocabulary token id 1000000; valid range"),
        ({"input_ids": [[1, 2], [-1]]}, 400, "input_ids contains out-of-vocabulary token id -1"),
        ({"input_ids": [1, 2], "sampling_params": {"n": 100000}}, 400, "sampling_params.n=100000 is out of range"),
        ({"input_ids": [1, 2], "sampling_params": {"n": 0}}, 400, "sampling_params.n=0 is out of range"),
        ({"input_ids": [1, 2], "sampling_params": {"n": "2"}}, 400, "sampling_params.n='2' must be int"),
        ({"input_ids": [1, 2], "sampling_params": {"top_k": "a"}}, 400, "sampling_params.top_k='a' must be int"),
        ({"input_ids": [1, 2], "sampling_params": {"temperature": []}}, 400, "sampling_params.temperature=[]"),
        ({"input_ids": [1, 2], "sampling_params": {"sampling_seed": "x"}}, 400, "sampling_params.sampling_seed='x'"),
        ({"input_ids": [1, 2], "sampling_params": {"max_new_tokens": -1}}, 400, "max_new_tokens"),
        ({"input_ids": [1, 2], "sampling_params": {"stop_token_ids": [10**6]}}, 400, "sampling_params.stop_token_ids"),
        ({"input_ids": [1, 2], "sampling_params": {"stop_token_ids": "x"}}, 400, "sampling_params.stop_token_ids"),
        ({"input_ids": [1, 2], "sampling_params": {"logit_bias": {"999999": 1}}}, 400, "logit_bias must has keys"),
        ({"input_ids": [1, 2], "sampling_params": {"logit_bias": [1]}}, 400, "sampling_params.logit_bias must map"),
        ({"input_ids": [1, 2], "sampling_params": "x"}, 400, "sampling_params must be a JSON object"),
        ({"input_ids": [[1, 2], [3]], "sampling_params": [{}]}, 400, "sampling_params has 1 entries for 2"),
        ({"input_ids": [[1, 2], [3]], "image_data": ["a"]}, 400, "image_data must hold one entry per request"),
        ({"input_ids": "12"}, 400, "input_ids must be a non-empty list"),
        ({"text": 5}, 400, "text must be a string"),
        ({"input_ids": [1, 2], "rid": ["a", "b"]}, 400, "rid has 2 entries for 1"),
    ],
)
def test_bad_generate_requests_get_sglang_style_400s(server, body, status, message):
    got_status, got = post(server, "/generate", body)
    assert got_status == status
    error = got["error"]
    assert message in (error if isinstance(error, str) else error["message"])


def test_a_prompt_over_the_context_is_named(server, tiny_model_dir, tmp_path, prompt_batch):
    client = client_for(server, tiny_model_dir, tmp_path)
    long_prompt = dataclasses.replace(prompt_batch.prompts[1], input_ids=torch.arange(5, 2100) % 400)
    long_prompt = dataclasses.replace(long_prompt, pixel_values=torch.zeros(0, 0),
                                      image_grid_thw=torch.zeros(0, 3, dtype=torch.long))  # fmt: skip
    with pytest.raises(EngineRequestError, match=f"request '{long_prompt.id}/0/.*more than the engine's context"):
        client.generate(PromptBatch((long_prompt,)), dataclasses.replace(SAMPLING, n=1))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensor_transport_loads_the_trainers_weights(server, tiny_model_dir, other_model_dir, tmp_path):
    # shared-memory handles of one packed buffer per bucket (CUDA-IPC handles on GPUs)
    client = client_for(server, tiny_model_dir, tmp_path, weight_transport=WeightTransportConfig(kind="tensor"))
    trainer = sorted(load_file(str(other_model_dir / "model.safetensors")).items())
    client.update_weights(iter([trainer[:20], trainer[20:]]), version=3)
    for name, tensor in trainer:
        assert torch.equal(server.engine.names.parameters[server.engine.names.resolve(name)].detach(), tensor), name
    assert client.weight_version == 3 and server.weights.session is None  # the sync's session is closed
    name, tensor = trainer[0]
    assert client.get_weights_by_name(name, 10) == tensor.flatten()[:10].tolist()
    with pytest.raises(EngineRequestError, match="has no weight 'model.nope'"):
        client.get_weights_by_name("model.nope")


@pytest.mark.slow
def test_broadcast_transport_loads_the_trainers_weights(tiny_model_dir, other_model_dir, tmp_path):
    # A gloo weight-update group (NCCL on GPUs) between this process (rank 0) and a server process (rank 1).
    from megatron_mmupt.rollout.sglang.args import SGLangConfig
    from megatron_mmupt.rollout.sglang.ray_engine import SGLangServer, local_serve_command

    process = SGLangServer(SGLangConfig(model_path=str(tiny_model_dir)), seed=1, command=local_serve_command,
                           startup_timeout_s=120, log_dir=str(tmp_path))  # fmt: skip
    url = process.start()
    try:
        transport = WeightTransportConfig(kind="distributed", backend="gloo", master_port=_free_port())
        config = SGLangClient.Config(url=url, model_path=str(tiny_model_dir), weight_transport=transport)
        with SGLangClient(config) as client:  # closing leaves the group on both sides: its name is free again
            trainer = sorted(load_file(str(other_model_dir / "model.safetensors")).items())
            client.update_weights(iter([trainer[:20], trainer[20:]]), version=3)
            client.update_weights(iter([trainer]), version=4)  # the group is opened once
            assert client.weight_version == 4
            for name, tensor in trainer:
                assert client.get_weights_by_name(name, tensor.numel()) == tensor.flatten().tolist(), name
        with SGLangClient(config) as client:
            client.update_weights(iter([trainer]), version=5)
            assert client.weight_version == 5
    finally:
        process.stop()


def test_a_burst_of_concurrent_clients_gets_no_connection_reset(server):
    # Defect 7: 64 threads (the client's max_concurrency), each opening its own connection at once, well beyond the
    # old listen backlog of 5; every request must be answered (no "connection reset by peer", no 5xx).
    import concurrent.futures

    body = {"input_ids": [5, 6, 7], "sampling_params": {"max_new_tokens": 1, "temperature": 0}}
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(lambda _: post(server, "/generate", body)[0], range(128)))
    assert statuses == [200] * 128
