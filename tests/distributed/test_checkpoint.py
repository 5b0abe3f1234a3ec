"""Save and resume of the Megatron actor at TP=2 (2 gloo ranks): exact resume, crash safety, retention, resharding.

One spawn runs every scenario in order, on the demo data and the tiny model; the tests assert on what it saw:

* ``straight`` trains 4 steps; ``first`` trains 2 steps and saves; a fresh actor ``resumed`` (other seeds)
  loads that checkpoint and trains steps 3 and 4: it must end with straight's weights, bit for bit, and its
  metrics. Every step draws from the prompt pipeline and from Python's, NumPy's and torch's generators, so the
  pipeline state and the RNG states must be restored too;
* ``resumed`` saves step 3, then a save of step 4 fails after the shards are written (``commit.publish``
  raises): ``latest`` stays on step 3 and the staging folder stays until the retried save removes it;
  ``keep_last=2`` drops step 2;
* resume errors: a directory without checkpoints, a checkpoint of another model, an actor whose optimizer has
  other tensors (vision tower frozen);
* resharding: ``resharded`` at TP=1 (2 data-parallel replicas) loads step 4, weights only, then with its
  optimizer; its HF-named weights equal resumed's bit for bit and one more step agrees with resumed's step 5;
  ``convert mcore-to-hf`` exports the folder as is;
* the distributed optimizer (TP=1, its state sharded over the 2 data-parallel ranks): 4 steps straight equal
  2 steps + save + resume into a fresh actor + 2 steps, bit for bit (megatron-core 0.16 with torch's Adam
  needs ``dist_state``'s step handling for this).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig, create_model_folder

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from actor_run import ActorRun as _Run
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.actor_run import ActorRun as _Run
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed


def _error(fn, *args) -> str:
    try:
        fn(*args)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _worker(rank: int, world_size: int, model_dir: str, other_model_dir: str, data_dir: str, root: str) -> dict:
    from megatron.core import parallel_state

    from megatron_mmupt.bridge.convert.mcore_to_hf import mcore_to_hf
    from megatron_mmupt.checkpoint import commit
    from megatron_mmupt.checkpoint.checkpointer import load_checkpoint, save_checkpoint
    from megatron_mmupt.checkpoint.pointer import read_latest
    from megatron_mmupt.parallel.config import ParallelConfig

    ckpts, out = Path(root) / "checkpoints", {}
    history: dict[str, list[float]] = {"actor/grad_norm": []}

    def save(run: _Run, step: int) -> Path:
        state = {"data": run.pipeline.state_dict(), "metrics_history": history}
        return save_checkpoint(ckpts, step, run.actor, state, keep_last=2)

    straight = _Run(model_dir, data_dir, tp=2, seed=0)
    out["straight_metrics"] = [straight.step() for _ in range(4)]
    out["straight_weights"] = straight.weights()
    del straight

    first = _Run(model_dir, data_dir, tp=2, seed=0)
    for _ in range(2):
        history["actor/grad_norm"].append(first.step()["actor/grad_norm"])
    save(first, 2)
    del first

    resumed = _Run(model_dir, data_dir, tp=2, seed=123)
    state = load_checkpoint(ckpts, resumed.actor)
    out["loaded_state"] = state
    resumed.pipeline.load_state_dict(state["data"])
    out["resumed_metrics"] = [resumed.step()]
    save(resumed, 3)
    out["resumed_metrics"].append(resumed.step())

    publish = commit.publish

    def crash(staging: Path, final: Path) -> None:
        out["staging_at_crash"] = _listing(staging)
        raise RuntimeError("simulated crash before the rename")

    commit.publish = crash if rank == 0 else publish
    out["interrupted_error"] = _error(save, resumed, 4)
    commit.publish = publish
    out["after_interrupted"] = (read_latest(ckpts).name, _listing(ckpts))
    save(resumed, 4)
    out["after_retry"] = (read_latest(ckpts).name, _listing(ckpts))
    out["resumed_weights"] = resumed.weights()

    out["empty_dir_error"] = _error(load_checkpoint, Path(root) / "nothing-here", resumed.actor)
    out["tp2_hf_weights"] = resumed.hf_weights()
    out["tp2_step5"] = resumed.step()
    out["tp2_hf_step5"] = resumed.hf_weights()
    del resumed
    other = _Run(other_model_dir, data_dir, tp=2, seed=0)  # (reseeds: after the TP=2 reference step)
    out["other_model_error"] = _error(load_checkpoint, ckpts, other.actor)
    del other
    frozen = _Run(model_dir, data_dir, tp=2, seed=0, freeze_vision=True)  # no optimizer state for the vision tower
    out["frozen_vision_error"] = _error(load_checkpoint, ckpts, frozen.actor)
    del frozen
    parallel_state.destroy_model_parallel()

    resharded = _Run(model_dir, data_dir, tp=1, seed=7)
    load_checkpoint(ckpts, resharded.actor, with_optimizer=False)
    out["tp1_model_only_hf_weights"] = resharded.hf_weights()
    state = load_checkpoint(ckpts, resharded.actor)
    resharded.pipeline.load_state_dict(state["data"])
    out["tp1_hf_weights"] = resharded.hf_weights()
    out["tp1_step5"] = resharded.step()
    out["tp1_hf_step5"] = resharded.hf_weights()
    exported = Path(root) / "hf-step4"
    mcore_to_hf(ckpts / "step_000004", exported, parallel=ParallelConfig(tensor_degree=1))
    out["exported"] = str(exported)
    del resharded
    out |= _distributed_optimizer_resume(model_dir, data_dir, Path(root) / "distributed-optimizer")
    return out


def _distributed_optimizer_resume(model_dir: str, data_dir: str, ckpts: Path) -> dict:
    from megatron_mmupt.actor.megatron.dist_state import _native_adams
    from megatron_mmupt.checkpoint.checkpointer import load_checkpoint, save_checkpoint

    def run(seed: int) -> _Run:
        return _Run(model_dir, data_dir, tp=1, seed=seed, distributed_optimizer=True)

    straight = run(0)
    out = {"zero_straight": [straight.step() for _ in range(4)], "zero_straight_weights": straight.weights()}
    del straight
    first = run(0)
    first.step(), first.step()
    save_checkpoint(ckpts, 2, first.actor, {"data": first.pipeline.state_dict()}, keep_last=1)
    del first
    resumed = run(5)
    resumed.pipeline.load_state_dict(load_checkpoint(ckpts, resumed.actor)["data"])
    adam = _native_adams(resumed.actor.optimizer)[0]
    out["zero_loaded_steps"] = sorted({float(state["step"]) for state in adam.state.values()})
    out["zero_resumed"] = [resumed.step() for _ in range(2)]
    out["zero_resumed_weights"] = resumed.weights()
    return out


@pytest.fixture(scope="module")
def runs(tiny_model_dir, demo_dir, tmp_path_factory) -> list[dict]:
    root = tmp_path_factory.mktemp("checkpoint")
    other = create_model_folder(
        root / "other-model", demo_dir / "processor", TinyQwen2_5_VLConfig(intermediate_size=256)
    )
    args = (str(tiny_model_dir), str(other), str(demo_dir), str(root))
    return run_distributed(_worker, 2, *args, timeout=280, device_strict=True)


def test_resume_is_exact(runs):
    for rank in runs:
        assert rank["resumed_metrics"] == rank["straight_metrics"][2:]
        assert rank["straight_weights"].keys() == rank["resumed_weights"].keys()
        different = [k for k, v in rank["straight_weights"].items() if not torch.equal(v, rank["resumed_weights"][k])]
        assert different == []
    assert runs[0]["straight_metrics"][0] != runs[0]["straight_metrics"][1]  # the steps really differ


def test_trainer_state_round_trips(runs):
    state = runs[0]["loaded_state"]
    assert state["step"] == 2
    assert state["data"]["batches_produced"] == 2 and state["data"]["sampler"]["position"] == 4
    assert state["metrics_history"]["actor/grad_norm"] == [
        m["actor/grad_norm"] for m in runs[0]["straight_metrics"][:2]
    ]


def test_interrupted_save_keeps_latest_and_the_next_save_cleans_up(runs):
    first, second = runs
    assert first["interrupted_error"] == "RuntimeError: simulated crash before the rename"
    assert second["interrupted_error"].startswith("RuntimeError: checkpoint save failed on another rank: rank 0")
    assert {"checkpoint.json", "metadata.json", "trainer_state.pt", "rng", "common.pt"} <= set(
        first["staging_at_crash"]
    )
    latest, listing = first["after_interrupted"]
    assert latest == "step_000003"
    assert [n for n in listing if not n.startswith(".")] == ["latest", "step_000002", "step_000003"]
    assert len([n for n in listing if n.startswith(".step_000004.tmp-")]) == 1  # what a crash leaves behind
    assert first["after_retry"] == ("step_000004", ["latest", "step_000003", "step_000004"])  # keep_last=2


def test_resume_errors_name_the_path_and_the_fix(runs):
    first, second = runs
    assert first["empty_dir_error"].startswith("InputError: cannot resume: ")
    assert (
        "nothing-here does not exist" in first["empty_dir_error"] and "checkpoint.directory" in first["empty_dir_error"]
    )
    assert second["empty_dir_error"].startswith("RuntimeError: checkpoint load failed on another rank")
    for rank in runs:  # every rank reads the metadata and refuses before any collective load
        message = rank["other_model_error"]
        assert (
            message.startswith("InputError: checkpoint ") and "step_000004 was saved from a different model" in message
        )
        assert "intermediate_size: 384 -> 256" in message and "point checkpoint.directory at a new folder" in message
        message = rank["frozen_vision_error"]  # the tensors differ: refused on every rank, nobody left waiting
        assert message.startswith("InputError: checkpoint ") and "does not fit this actor: it has optimizer." in message
        assert "visual." in message and "resume with the model, layer spec and optimizer settings" in message


def test_load_at_tp1_reshards_model_and_optimizer(runs):
    for rank in runs:
        tp2, tp1 = rank["tp2_hf_weights"], rank["tp1_hf_weights"]
        assert tp2.keys() == tp1.keys()
        assert [n for n in tp2 if not torch.equal(tp2[n], tp1[n])] == []
        model_only = rank["tp1_model_only_hf_weights"]
        assert [n for n in tp2 if not torch.equal(tp2[n], model_only[n])] == []
        # One more Adam step: the same update at both layouts (up to reduction order) only if the optimizer's
        # moments and step count were resharded too; fresh moments would give a different update.
        assert rank["tp1_step5"]["actor/grad_norm"] == pytest.approx(rank["tp2_step5"]["actor/grad_norm"], rel=1e-5)
        updates = {n: (rank["tp2_hf_step5"][n] - tp2[n], rank["tp1_hf_step5"][n] - tp1[n]) for n in tp2}
        assert max(float(u2.abs().max()) for u2, _ in updates.values()) > 5e-4  # Adam moves weights by ~lr
        assert max(float((u1 - u2).abs().max()) for u2, u1 in updates.values()) < 1e-6


def test_distributed_optimizer_resumes_exactly(runs):
    for rank in runs:
        assert rank["zero_loaded_steps"] == [2.0]  # Adam's bias correction continues from step 2
        assert rank["zero_resumed"] == rank["zero_straight"][2:]
        straight, resumed = rank["zero_straight_weights"], rank["zero_resumed_weights"]
        assert [k for k, v in straight.items() if not torch.equal(v, resumed[k])] == []
    assert runs[0]["zero_straight"][2] != runs[0]["zero_straight"][3]


def test_convert_mcore_to_hf_reads_a_training_checkpoint(runs):
    from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint

    exported = HFCheckpoint(runs[0]["exported"])
    expected = runs[0]["tp1_hf_weights"]
    assert sorted(exported.names()) == sorted(expected)
    assert [n for n in expected if not torch.equal(exported.get(n), expected[n])] == []
