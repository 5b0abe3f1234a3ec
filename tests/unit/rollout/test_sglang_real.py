"""The SGLang client against a real SGLang server (GPU machines with SGLang 0.5.23 installed).

Skipped on CPU machines: SGLang's engine needs CUDA and its kernels (SGLang's HTTP app and weight-update code run
on CPU in ``test_sglang_app.py``). Same checks as ``test_server.py`` against ``megatron-mmupt serve``, plus the
CUDA-IPC tensor transport.
"""

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from megatron_mmupt.rollout.engine import SamplingConfig
from megatron_mmupt.rollout.sglang.args import SGLangConfig
from megatron_mmupt.rollout.sglang.client import SGLangClient
from megatron_mmupt.rollout.sglang.ray_engine import SGLangServer
from megatron_mmupt.rollout.sglang.transports.single import WeightTransportConfig

pytestmark = [pytest.mark.sglang, pytest.mark.gpu, pytest.mark.slow]
SAMPLING = SamplingConfig(n=2, max_new_tokens=8, temperature=0.8, top_p=1.0)


@pytest.fixture(scope="module")
def sglang_url(tiny_model_dir, tmp_path_factory):
    pytest.importorskip(
        "sglang.srt.entrypoints.http_server",
        reason="a GPU test: SGLang with its CUDA kernels is "
        "not installed in this environment (its server code runs on CPU in test_sglang_app.py)",
    )
    if not torch.cuda.is_available():
        pytest.skip("SGLang needs a CUDA GPU")
    config = SGLangConfig(model_path=str(tiny_model_dir), dtype="float32", mem_fraction_static=0.3)
    server = SGLangServer(config, seed=1, log_dir=str(tmp_path_factory.mktemp("sglang")))
    yield server.start()
    server.stop()


def test_generation_logprobs_and_weight_updates(sglang_url, tiny_model_dir, other_model_dir, prompt_batch, engine,
                                                reference_logprobs, tmp_path):  # fmt: skip
    config = SGLangClient.Config(url=sglang_url, model_path=str(tiny_model_dir))
    client = SGLangClient(config)
    bias = torch.zeros(client.token_policy.vocab_size)
    bias[list(client.token_policy.suppressed_token_ids)] = -1e9
    for group, prompt in zip(client.generate(prompt_batch, SAMPLING), prompt_batch, strict=True):
        assert group.num_prompt_tokens == prompt.num_tokens
        for rollout in group.rollouts:
            ids = list(rollout.response_token_ids)
            assert not set(ids) & set(client.token_policy.suppressed_token_ids)
            ref = reference_logprobs(engine.model, prompt, ids, SAMPLING.temperature, logit_bias=bias)
            torch.testing.assert_close(torch.tensor(rollout.rollout_logprobs), ref, atol=1e-3, rtol=0)
    trainer = sorted(load_file(str(other_model_dir / "model.safetensors")).items())
    disk = dataclasses.replace(config, weight_transport=WeightTransportConfig(disk_dir=str(tmp_path)))
    SGLangClient(disk).update_weights([trainer], version=1)
    assert client.weight_version == 1
    ipc = dataclasses.replace(config, weight_transport=WeightTransportConfig(kind="tensor"))
    on_gpu = [[(name, t.cuda()) for name, t in trainer[:20]], [(name, t.cuda()) for name, t in trainer[20:]]]
    SGLangClient(ipc).update_weights(on_gpu, version=2)
    assert client.weight_version == 2 and client.health().healthy
    client.pause_generation()
    client.continue_generation()
    client.flush_cache()
