"""Checks a run's inputs before any work starts: model files, parallel layout against the model, data files.

Everything here is cheap (config files and headers, no weights, no Ray): a bad run fails in seconds with a
message naming the key and the fix, not after minutes of start-up.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from megatron_mmupt.bridge.sync_config import resolve_transport
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.models.families import family_of
from megatron_mmupt.models.parallel_layout import check_hf_text_layout

WEIGHT_PATTERNS = ("*.safetensors", "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".arrow")
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # owner/name; the data stage reports hub errors itself


def check_run_inputs(config: RunConfig) -> None:
    model = _check_model_folder(config.actor.model, "actor.model")
    hf_config = json.loads((model / "config.json").read_text())
    family_of(hf_config)  # a supported architecture (its error lists them)
    check_hf_text_layout(config.actor.parallel, _text_config(hf_config))
    if not config.data.processor:
        raise ConfigError("data.processor is empty; set it to the model folder (it holds the tokenizer)")
    _check_files(Path(config.data.processor), TOKENIZER_FILES, "data.processor")
    colocated = config.cluster.colocate and config.rollout.uses_gpus and config.cluster.gpus_per_worker() > 0
    resolve_transport(config.rollout.weight_sync, config.rollout, colocated=colocated)
    for key, source in (("data.source.path", config.data.source.path), ("eval.source.path", config.eval.source.path)):
        if source and not Path(source).exists() and not _glob_or_hub_name(source):
            raise ConfigError(f"{key}={source!r} does not exist (for the demo: `megatron-mmupt demo-data --out DIR`)")


def _glob_or_hub_name(path: str) -> bool:
    if any(c in path for c in "*?["):
        return True
    return bool(HUB_NAME.fullmatch(path)) and Path(path).suffix not in DATA_SUFFIXES


def _check_model_folder(path: str, key: str) -> Path:
    if not path:
        raise ConfigError(f"{key} is empty; set it to a Hugging Face model folder (config.json + safetensors)")
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"{key}={path!r} is not a folder; give a Hugging Face model folder")
    _check_files(folder, ("config.json",), key)
    if not any(any(folder.glob(p)) for p in WEIGHT_PATTERNS):
        raise ConfigError(
            f"{key}={path!r} has no *.safetensors weights; convert a Megatron checkpoint with "
            "`megatron-mmupt convert mcore-to-hf` or download the model's safetensors"
        )
    return folder


def _check_files(folder: Path, names: tuple[str, ...], key: str) -> None:
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise ConfigError(f"{key}={str(folder)!r} lacks {', '.join(missing)}")


def _text_config(config: dict) -> dict:
    return config.get("text_config") or config
