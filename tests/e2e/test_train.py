"""``megatron-mmupt train`` end to end on CPU: Ray workers (Megatron actor), a local engine, the vote reward.

One Ray instance serves the module (``train`` reuses a running Ray). The tiny model is random, so its answers
are not boxed: an entropy bonus makes every step change the weights, which is what resume must reproduce.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.parallel.cluster import ClusterConfig, ray_session
from megatron_mmupt.recipes import resolve_run_config
from megatron_mmupt.train import train

pytestmark = pytest.mark.slow
VOLATILE = ("time/", "perf/")  # wall-clock metrics: the only ones two identical runs may differ in


@pytest.fixture(scope="module")
def ray_cluster():
    with ray_session(ClusterConfig(), num_cpus=4):
        yield


def config_for(demo_dir: Path, model_dir: Path, out: Path, *extra: str):
    return resolve_run_config(
        "demo",
        [
            f"actor.model={model_dir}", f"data.processor={demo_dir / 'processor'}",
            f"data.source.path={demo_dir / 'train.parquet'}", f"eval.source.path={demo_dir / 'test.parquet'}",
            "eval.source.max_rows=8", "eval.n=2", "data.sampler.batch_size=4", "rollout.sampling.n=4",
            "rollout.sampling.max_new_tokens=6", "eval.max_new_tokens=6", "trainer.updates_per_step=2",
            "algorithm.entropy.coef=0.01", "algorithm.filters.zero_advantage_groups=keep", "actor.micro_batch_size=8",
            "actor.optimizer.lr=1e-3", "cluster.cpus_per_worker=1", "rollout.cpus_per_engine=1",
            "logging.console=false", f"output_dir={out}", *extra,
        ],
    )  # fmt: skip


def steps(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith(VOLATILE) and k != "wall_time"} for r in rows]


COLLAPSE_SIGNALS = ("vote/answer_entropy", "vote/unanimous_rate", "vote/distinct_answers", "entropy/sampled_tokens",
                    "guard/majority_share", "guard/alarm", "guard/skipped_groups")  # fmt: skip


def test_train_tp1_writes_metrics_plot_and_checkpoint(ray_cluster, demo_dir, tiny_model_dir, tmp_path, monkeypatch):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_RUN_ID", "WANDB_RESUME"):
        monkeypatch.delenv(name, raising=False)
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))  # offline, inside tmp_path
    config = config_for(demo_dir, tiny_model_dir, tmp_path / "run", "trainer.num_steps=2", "logging.wandb=true")
    last = train(config)
    rows = steps(tmp_path / "run")
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert "eval/pass_at_1" in rows[0] and "eval/pass_at_1" in rows[2]
    for key in ("reward/mean", "vote/majority_ratio", "actor/grad_norm", "mismatch/logprob_abs_diff_max"):
        assert key in rows[1], key
    for key in COLLAPSE_SIGNALS:  # the collapse guard's signals and decisions, every step, in every sink
        assert key in rows[1] and key in rows[2], key
    (record,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    assert all(key.encode() in record.read_bytes() for key in COLLAPSE_SIGNALS)
    assert rows[1]["actor/updates"] == 2.0
    assert rows[1]["mismatch/logprob_abs_diff_max"] < 1e-3  # engine and actor agree on the synced weights
    assert last["time/rollout"] > 0 and (tmp_path / "run" / "curves.png").stat().st_size > 10_000
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == "step_000002"


def test_train_tp2_on_two_gloo_workers(ray_cluster, demo_dir, tiny_model_dir, tmp_path):
    config = config_for(
        demo_dir, tiny_model_dir, tmp_path / "tp2", "trainer.num_steps=1", "trainer.world_size=2",
        "actor.parallel.tensor_degree=2", "eval.before=false", "rollout.weight_sync.check_every=1",
    )  # fmt: skip
    last = train(config)
    assert last["actor/updates"] == 2.0 and torch.isfinite(torch.tensor(last["actor/grad_norm"]))
    # The weights went from the actor's rank 0 through Ray's object store to the engine; the check mode read
    # a sample of them back from the engine and found them equal to what the actor sent.
    assert last["sync/tensors"] > 30 and last["sync/bytes"] > 0 and last["perf/sync_gb_per_s"] > 0
    assert last["sync/check_tensors"] == 8 and last["sync/check_max_abs_diff"] == 0.0


@pytest.mark.parametrize("staleness", [0, 1], ids=["synchronous", "rollout-ahead"])
def test_resume_is_exact(ray_cluster, demo_dir, tiny_model_dir, tmp_path, staleness):
    """4 steps in one go == 2 steps, then --resume to 4: same metrics at every step, same final weights. With the
    rollout ahead of training (max_staleness=1), the checkpoint at step 2 is a barrier of both runs."""
    export = ("checkpoint.hf_export_every=4", "eval.before=false", "checkpoint.save_every=2",
              f"trainer.max_staleness={staleness}")  # fmt: skip
    export += ("algorithm.off_policy.weighting=decoupled",) if staleness else ()
    whole = config_for(demo_dir, tiny_model_dir, tmp_path / "whole", "trainer.num_steps=4", *export)
    train(whole)
    first = config_for(demo_dir, tiny_model_dir, tmp_path / "split", "trainer.num_steps=2", *export)
    train(first)
    second = config_for(demo_dir, tiny_model_dir, tmp_path / "split", "trainer.num_steps=4", *export)
    train(second, resume=True)
    training = [{k: v for k, v in r.items() if not k.startswith("eval/")} for r in steps(tmp_path / "whole")]
    resumed = steps(tmp_path / "split")  # its first part ended (and was evaluated) at step 2
    assert [{k: v for k, v in r.items() if not k.startswith("eval/")} for r in resumed] == training
    assert training[1]["actor/grad_norm"] > 0 and len(training) == 4
    if staleness:  # steps 1 and 3 follow a barrier (the start, the checkpoint): on the actor's weights; 2 and 4 lag 1
        assert [r["staleness/max_lag"] for r in training] == [0.0, 1.0, 0.0, 1.0]
        assert "mismatch/lag1/k3_kl" in training[1] and training[1]["mismatch/lag1/logprob_abs_diff_max"] > 0
    a = HFCheckpoint(tmp_path / "whole" / "checkpoints" / "hf" / "step_000004")
    b = HFCheckpoint(tmp_path / "split" / "checkpoints" / "hf" / "step_000004")
    base = HFCheckpoint(tiny_model_dir)
    name = "model.layers.0.mlp.down_proj.weight"
    assert not torch.equal(a.get(name), base.get(name))  # training moved the weights
    assert a.names() == b.names() and all(torch.equal(a.get(n), b.get(n)) for n in a.names())


def _text_only_split(source: Path, out: Path) -> Path:
    """The demo split's questions without their images: a task a text-only model can read."""
    import pandas as pd

    frame = pd.read_parquet(source)
    frame["question"] = frame["question"].str.replace("<image>", "", regex=False)
    frame["images"] = [[] for _ in range(len(frame))]
    frame.to_parquet(out)
    return out


def test_train_a_text_only_qwen2_with_one_kv_head_at_tp2(ray_cluster, demo_dir, tmp_path):
    from megatron_mmupt.models.tiny_families import create_family_folder
    from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig

    # One KV head shared by both TP ranks, tied embeddings: the trainer, weight sync and export at KV < TP.
    sizes = TinyQwen2_5_VLConfig(num_key_value_heads=1, tie_word_embeddings=True)
    model = create_family_folder("Qwen2ForCausalLM", tmp_path / "qwen2", demo_dir / "processor", sizes, seed=0)
    assert not (model / "preprocessor_config.json").exists()
    config = config_for(
        demo_dir, model, tmp_path / "run", "trainer.num_steps=1", "trainer.world_size=2",
        "actor.parallel.tensor_degree=2", f"data.processor={model}",
        f"data.source.path={_text_only_split(demo_dir / 'train.parquet', tmp_path / 'train.parquet')}",
        f"eval.source.path={_text_only_split(demo_dir / 'test.parquet', tmp_path / 'test.parquet')}",
        "rollout.weight_sync.check_every=1", "checkpoint.hf_export_every=1",
    )  # fmt: skip
    train(config)
    rows = steps(tmp_path / "run")
    assert [r["step"] for r in rows] == [0, 1] and "eval/pass_at_1" in rows[0]
    assert rows[1]["actor/updates"] == 2.0
    assert rows[1]["mismatch/logprob_abs_diff_max"] < 1e-3  # the text-only actor and engine agree after the sync
    exported = tmp_path / "run" / "checkpoints" / "hf" / "step_000001"
    assert json.loads((exported / "config.json").read_text())["architectures"] == ["Qwen2ForCausalLM"]
    names = HFCheckpoint(exported).names()
    assert names == HFCheckpoint(model).names() and not any(name.startswith("visual.") for name in names)
