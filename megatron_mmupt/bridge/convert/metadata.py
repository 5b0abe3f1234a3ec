"""What a converted Megatron checkpoint carries besides the dist-checkpoint: ``mmupt_bridge.json`` and ``hf_files/``.

A checkpoint folder written by ``hf_to_mcore``::

    CKPT/
      metadata.json, .metadata, common.pt, __*_*.distcp   # Megatron dist_checkpointing (torch_dist format)
      mmupt_bridge.json                                   # CheckpointMetadata below
      hf_files/                                           # tokenizer / processor / generation files of the source

The padded vocabulary is recorded for the reader: Megatron pads the embedding to a multiple of
``make_vocab_size_divisible_by * tensor_degree``, so the saved rows depend on the TP it was written at. A loader
at another TP may pad differently; Megatron's embedding and output layer load with ``allow_shape_mismatch``
(the overlapping rows are read, the rest zero-filled), and the HF export cuts to the real vocabulary.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.utils.atomic import atomic_write_text
from megatron_mmupt.utils.errors import InputError

METADATA_FILE = "mmupt_bridge.json"
HF_FILES_DIR = "hf_files"
FORMAT = "megatron_mmupt.mcore_checkpoint/1"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class CheckpointMetadata:
    """The bridge's record of a converted checkpoint (JSON)."""

    hf_config: dict[str, Any]
    """The source ``config.json``, verbatim: it rebuilds the model and is written back on export."""
    padded_vocab_size: int
    """Rows of the saved embedding / output layer: the HF vocabulary plus Megatron's padding at the saved TP."""
    spec: str
    """Layer spec the parameters are named after (``local`` or ``te``); loading needs the same."""
    tensor_degree: int
    pipeline_degree: int
    dtype: str
    """Parameter dtype of the saved tensors: ``float32``, ``bfloat16`` or ``float16``."""
    format: str = FORMAT

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise InputError(f"{METADATA_FILE}: dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.format != FORMAT:
            raise InputError(f"{METADATA_FILE}: format {self.format!r} is not {FORMAT!r}; convert again from HF")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def hf_config_object(self) -> Any:
        """The ``transformers`` config object of ``hf_config`` (as ``AutoConfig.from_pretrained`` builds it)."""
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING

        model_type = self.hf_config.get("model_type")
        if model_type not in CONFIG_MAPPING:
            raise InputError(f"{METADATA_FILE}: model_type {model_type!r} is unknown to this transformers version")
        return CONFIG_MAPPING[model_type].from_dict(self.hf_config)

    def write(self, folder: str | Path) -> None:
        atomic_write_text(Path(folder) / METADATA_FILE, json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: str | Path) -> CheckpointMetadata:
        """Read ``folder/mmupt_bridge.json``; ``InputError`` naming the folder and the fix when absent or bad."""
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"checkpoint folder {folder} does not exist")
        path = folder / METADATA_FILE
        if not path.is_file():
            raise InputError(
                f"{folder} has no {METADATA_FILE}: it was not written by `megatron-mmupt convert hf-to-mcore`; "
                "convert the Hugging Face folder it came from instead"
            )
        try:
            fields = json.loads(path.read_text())
            return cls(**fields)
        except (json.JSONDecodeError, TypeError) as e:
            raise InputError(f"{path} is not a valid {METADATA_FILE} ({e}); convert again from HF") from e


def params_dtype(hf_config: Any) -> torch.dtype:
    """The dtype the checkpoint declares (``config.dtype``), so that conversion never rounds; float32 if none."""
    text = getattr(hf_config, "text_config", None)
    dtype = getattr(hf_config, "dtype", None) or getattr(text, "dtype", None)
    if isinstance(dtype, str):
        dtype = DTYPES.get(dtype)
    return dtype if dtype in DTYPES.values() else torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
