"""Read the weights of a Hugging Face model folder lazily: one ``model.safetensors`` or sharded with an index."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from megatron_mmupt.utils.errors import InputError

SINGLE_FILE, INDEX_FILE = "model.safetensors", "model.safetensors.index.json"


class HFCheckpoint:
    """``names()``, ``get(name)``: tensors are read on demand, one file handle per shard."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if (self.folder / INDEX_FILE).is_file():
            weight_map = json.loads((self.folder / INDEX_FILE).read_text())["weight_map"]
            self._file_of = {name: self.folder / file for name, file in weight_map.items()}
        elif (self.folder / SINGLE_FILE).is_file():
            with safe_open(str(self.folder / SINGLE_FILE), "pt") as f:
                self._file_of = dict.fromkeys(f.keys(), self.folder / SINGLE_FILE)
        else:
            raise InputError(
                f"{self.folder} has neither {SINGLE_FILE} nor {INDEX_FILE}; pass a Hugging Face model folder"
            )
        self._handles: dict[Path, object] = {}

    def names(self) -> list[str]:
        return sorted(self._file_of)

    def __contains__(self, name: str) -> bool:
        return name in self._file_of

    def get(self, name: str) -> torch.Tensor:
        if name not in self._file_of:
            raise InputError(f"{self.folder} has no tensor {name!r}")
        path = self._file_of[name]
        if path not in self._handles:
            if not path.is_file():
                raise InputError(f"{path} (listed in {INDEX_FILE}) does not exist")
            self._handles[path] = safe_open(str(path), "pt")
        return self._handles[path].get_tensor(name)
