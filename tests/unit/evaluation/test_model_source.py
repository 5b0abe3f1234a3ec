"""``--model``: an HF folder, a training checkpoint's HF export, or a checkpoint converted once; the fingerprint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.checkpoint.layout import MEGATRON_METADATA_FILE, TRAINER_STATE_FILE, Manifest, step_name
from megatron_mmupt.checkpoint.pointer import point_latest_at
from megatron_mmupt.checkpoint.state_file import write_state_file
from megatron_mmupt.evaluation.model_source import model_fingerprint, resolve_model
from megatron_mmupt.utils.errors import InputError


def complete(folder, step):
    """Mark ``folder`` as a complete training checkpoint of ``step`` (the files the layout checks)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / MEGATRON_METADATA_FILE).exists():
        (folder / MEGATRON_METADATA_FILE).write_text('{"sharded_backend": "torch_dist"}')
    write_state_file(folder / TRAINER_STATE_FILE, {"step": step})
    Manifest(step=step, world_size=1, tensor_degree=1, pipeline_degree=1, data_degree=1).write(folder)
    return folder


def test_an_hf_folder_is_served_as_is_and_its_fingerprint_follows_the_weights(tiny_model_dir, tmp_path):
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    resolved = resolve_model(model, work_dir=tmp_path / "work")
    assert (resolved.path, resolved.origin, resolved.checkpoint) == (model, "hf", None)
    assert model_fingerprint(model) == resolved.fingerprint
    weights = next(model.glob("*.safetensors"))
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # rewritten in place
    assert model_fingerprint(model) != resolved.fingerprint


def test_a_checkpoint_with_the_trainers_hf_export_uses_the_export(tiny_model_dir, tmp_path):
    checkpoints = tmp_path / "run" / "checkpoints"
    step = complete(checkpoints / step_name(4), 4)
    point_latest_at(step)
    export = shutil.copytree(tiny_model_dir, checkpoints / "hf" / step_name(4))
    logged = []
    for given in (tmp_path / "run", checkpoints, step):
        resolved = resolve_model(given, work_dir=tmp_path / "work", log=logged.append)
        assert (resolved.path, resolved.origin, resolved.checkpoint) == (export, "hf_export", step)
    assert "the trainer's HF export" in logged[0]


def test_what_is_not_a_model_is_named_with_the_fix(tmp_path):
    with pytest.raises(InputError, match=r"--model .*missing: no such folder; give a Hugging Face model folder"):
        resolve_model(tmp_path / "missing", work_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        InputError, match="has no config.json with safetensors weights and no complete training checkpoint"
    ):
        resolve_model(tmp_path / "empty", work_dir=tmp_path)


@pytest.mark.slow  # two conversions in child processes (Megatron import, dist-checkpoints): 20-45 s here
def test_a_checkpoint_without_export_is_converted_once(tiny_model_dir, tmp_path):
    # A Megatron dist-checkpoint with the bridge's metadata, marked complete as the trainer's checkpoints are.
    step = tmp_path / "run" / "checkpoints" / step_name(2)
    command = [sys.executable, "-m", "megatron_mmupt.cli", "convert", "hf-to-mcore", "--hf", str(tiny_model_dir)]
    subprocess.run([*command, "--out", str(step)], check=True, capture_output=True)
    complete(step, 2)
    logged = []
    resolved = resolve_model(tmp_path / "run", work_dir=tmp_path / "eval" / "models", log=logged.append)
    assert resolved.origin == "converted" and resolved.checkpoint == step
    assert resolved.path.parent == tmp_path / "eval" / "models" and "converting" in logged[0]
    converted, source = HFCheckpoint(resolved.path), HFCheckpoint(tiny_model_dir)
    assert converted.names() == source.names()
    assert all(torch.equal(converted.get(name), source.get(name)) for name in source.names())
    again = resolve_model(step, work_dir=tmp_path / "eval" / "models", log=logged.append)
    assert again == resolved and "converted earlier" in logged[-1]
