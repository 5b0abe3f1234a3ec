"""What ``--model`` names, as a Hugging Face folder an engine can serve, and a fingerprint of its weights.

Accepted: an HF model folder (``config.json`` + safetensors), or a training checkpoint: a run's folder, its
``checkpoints/`` folder (the checkpoint ``latest`` names) or one ``step_N`` folder. For a checkpoint, the HF
export the trainer wrote for that step (``checkpoint.hf_export_every``) is used when there is one; otherwise
the checkpoint is converted once with ``megatron-mmupt convert mcore-to-hf`` into ``<output_dir>/models/`` and
reused by later runs. The conversion runs in a child process, so Megatron's process groups and CPU shim never
enter the evaluating process.

The fingerprint hashes ``config.json`` and each weight file's name, size and modification time: cheap for a
7B model, and changed by any rewrite of the weights (a copy that does not keep modification times counts as
another model, so its questions are generated again rather than taken from the cache).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from megatron_mmupt.checkpoint.config import hf_export_dir
from megatron_mmupt.checkpoint.layout import Manifest, is_complete
from megatron_mmupt.checkpoint.pointer import find_latest
from megatron_mmupt.utils.errors import InputError

WEIGHT_FILES = ("*.safetensors", "model.safetensors.index.json")
ACCEPTED = (
    "a Hugging Face model folder (config.json + safetensors) or a training checkpoint (a run folder, "
    "its checkpoints/ folder, or a step_N folder)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedModel:
    """The model an evaluation serves.

    Attributes:
        path: the HF folder.
        origin: how it was found: ``hf`` (given), ``hf_export`` (the trainer's export of the checkpoint's step)
            or ``converted`` (converted from the checkpoint by this or an earlier evaluation).
        checkpoint: the training checkpoint it comes from, if any.
        fingerprint: identifies the weights (see the module docstring).
    """

    path: Path
    origin: str
    checkpoint: Path | None
    fingerprint: str

    def to_dict(self) -> dict[str, str | None]:
        checkpoint = None if self.checkpoint is None else str(self.checkpoint)
        return {
            "path": str(self.path),
            "origin": self.origin,
            "checkpoint": checkpoint,
            "fingerprint": self.fingerprint,
        }


def resolve_model(model: str | Path, *, work_dir: str | Path, log: Callable[[str], None] = print) -> ResolvedModel:
    """The HF folder for ``model`` (see the module docstring); ``InputError`` naming the path and the fix."""
    path = Path(model)
    if not path.exists():
        raise InputError(f"--model {model}: no such folder; give {ACCEPTED}")
    if is_hf_folder(path):
        return ResolvedModel(path, "hf", None, model_fingerprint(path))
    step_dir = find_checkpoint(path)
    if step_dir is None:
        raise InputError(
            f"--model {model} has no config.json with safetensors weights and no complete training checkpoint "
            f"(step_N with checkpoint.json); give {ACCEPTED}"
        )
    manifest = Manifest.read(step_dir)
    assert manifest is not None  # find_checkpoint returns complete folders only
    export = hf_export_dir(step_dir.parent, manifest.step)
    if is_hf_folder(export):
        log(f"evaluating {export}, the trainer's HF export of {step_dir}")
        return ResolvedModel(export, "hf_export", step_dir, model_fingerprint(export))
    converted = convert_checkpoint(step_dir, Path(work_dir), log=log)
    return ResolvedModel(converted, "converted", step_dir, model_fingerprint(converted))


def is_hf_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and any(any(path.glob(p)) for p in WEIGHT_FILES)


def find_checkpoint(path: Path) -> Path | None:
    """The complete checkpoint ``path`` names: a step folder, a checkpoint directory's latest, a run's."""
    for directory in (path, path / "checkpoints"):
        if is_complete(directory):
            return directory
        latest = find_latest(directory)
        if latest is not None:
            return latest
    return None


def convert_checkpoint(step_dir: Path, work_dir: Path, *, log: Callable[[str], None] = print) -> Path:
    """``step_dir`` as an HF folder under ``work_dir`` (converted once; an earlier conversion is reused)."""
    tag = hashlib.blake2b(str(step_dir.resolve()).encode(), digest_size=4).hexdigest()
    out = work_dir / f"{step_dir.name}-{tag}"
    if is_hf_folder(out):
        log(f"evaluating {out}, converted earlier from {step_dir}")
        return out
    staging = work_dir / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    log(f"converting the training checkpoint {step_dir} to a Hugging Face folder {out} ...")
    command = [sys.executable, "-m", "megatron_mmupt.cli", "convert", "mcore-to-hf", "--ckpt", str(step_dir)]
    done = subprocess.run([*command, "--out", str(staging)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise InputError(
            f"converting {step_dir} to a Hugging Face folder failed: {' | '.join(tail)}; convert it yourself "
            "(`megatron-mmupt convert mcore-to-hf`, under torchrun for a large model) and pass the folder"
        )
    os.replace(staging, out)  # a folder under the final name is always a complete conversion
    return out


def model_fingerprint(path: Path) -> str:
    """Hash of ``config.json`` and every weight file's name, size and modification time."""
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for pattern in WEIGHT_FILES:
        for file in sorted(path.glob(pattern)):
            stat = file.stat()
            digest.update(f"{file.name}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]
