"""Reading a dataset with HF ``datasets`` from local files, ``save_to_disk`` folders or the hub.

``read_dataset(path, ...)`` accepts:

* a ``.parquet``, ``.jsonl``, ``.json`` or ``.arrow`` file, or a glob of them (all rows; ``split`` is a
  label only). A ``.json`` file may hold a list of records or an object mapping ids to records, as
  MathVista's ``testmini.json`` does (its values are the rows);
* a folder written by ``save_to_disk`` (a ``Dataset``, or a ``DatasetDict`` from which ``split`` is taken);
* any other folder, e.g. a downloaded hub snapshot (``data/testmini-00000-of-00001.parquet``): read by
  ``datasets.load_dataset(folder)``, which infers the splits from the file names;
* otherwise a hub name ``owner/name``, read with ``load_dataset(name, split=split)``.

Rows stay on disk (Arrow, memory-mapped) and images are never decoded here: every ``Image`` feature,
nested in lists included, is switched to ``decode=False``, so a row yields ``{"bytes", "path"}`` structs.
The switch rebuilds the ``Dataset`` object around the same Arrow table with the new features, which is free;
``cast_column`` would be free for a plain ``Image`` column but rewrites the whole dataset for a list of them.
Relative image paths are resolved later against ``Loaded.base_dir``: the file's folder, the glob's fixed
folder, the dataset folder, or nothing for the hub.
"""

from __future__ import annotations

import copy
import dataclasses
import glob
import json
import os
import re
from pathlib import Path
from typing import Any

import datasets

from megatron_mmupt.utils.errors import InputError

FORMATS = ("auto", "parquet", "jsonl", "json", "arrow", "save_to_disk")
_FORMAT_OF_SUFFIX = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "json", ".arrow": "arrow"}
_BUILDER = {"parquet": "parquet", "jsonl": "json", "json": "json", "arrow": "arrow"}
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
ACCEPTED = (
    "a .parquet, .jsonl, .json or .arrow file, a glob of them, a folder of them, a save_to_disk folder, "
    "or a hub name owner/name"
)


@dataclasses.dataclass(frozen=True)
class Loaded:
    dataset: datasets.Dataset
    """The rows, with images undecoded."""
    base_dir: Path | None
    """Folder that relative image paths in the rows are relative to; ``None`` for a hub dataset."""


def read_dataset(
    path: str, *, split: str, fmt: str = "auto", cache_dir: str | None = None, key: str = "data.source"
) -> Loaded:
    """The rows at ``path`` (see the module docstring); ``InputError`` naming ``{key}.path`` when unreadable."""
    if fmt not in FORMATS:
        raise InputError(f"{key}.format={fmt!r} is not valid; choose one of: {', '.join(FORMATS)}")
    where = f"{key}.path={path!r}"
    if os.path.isdir(path):
        dataset, base_dir = _read_folder(Path(path), split, fmt, cache_dir, where, key), Path(path).resolve()
    elif os.path.isfile(path):
        dataset, base_dir = _read_files([path], fmt, cache_dir, where, key), Path(path).resolve().parent
    elif _is_glob(path):
        dataset, base_dir = _read_files(_files(path, where), fmt, cache_dir, where, key), _fixed_folder(path)
    elif _HUB_NAME.match(path):
        dataset, base_dir = _read_hub(path, split, cache_dir, where, key), None
    else:
        raise InputError(f"{where} does not exist; give {ACCEPTED}")
    return Loaded(without_image_decoding(dataset), base_dir)


def _files(pattern: str, where: str) -> list[str]:
    files = sorted(f for f in glob.glob(pattern, recursive=True) if os.path.isfile(f))
    if not files:
        raise InputError(f"{where} matches no file; give {ACCEPTED}")
    return files


def _fixed_folder(pattern: str) -> Path:
    """The folder of a glob before its first wildcard (``/data/*/x.parquet`` -> ``/data``)."""
    parts = Path(pattern).parts
    fixed = parts[: next(i for i, p in enumerate(parts) if _is_glob(p))]
    return (Path(*fixed) if fixed else Path(".")).resolve()


def _is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def _read_files(files: list[str], fmt: str, cache_dir: str | None, where: str, key: str) -> datasets.Dataset:
    if fmt == "save_to_disk":
        raise InputError(f"{where} is a file, but {key}.format=save_to_disk needs the folder save_to_disk wrote")
    if fmt == "auto":
        found = sorted({_FORMAT_OF_SUFFIX.get(Path(f).suffix.lower(), Path(f).suffix or "(none)") for f in files})
        unknown = [s for s in found if s not in _BUILDER]
        if unknown or len(found) > 1:
            raise InputError(
                f"{where}: cannot tell one format from the file extensions ({', '.join(found)}); "
                f"use .parquet, .jsonl, .json or .arrow files of one kind, or set {key}.format"
            )
        fmt = found[0]
    try:
        if fmt == "json" and not all(_first_char(f) == "[" for f in files):
            return _json_records_dataset(files, cache_dir)
        # datasets globs data_files again: escape names like "a[1].parquet" so they match only themselves.
        escaped = [glob.escape(f) for f in files]
        return datasets.load_dataset(_BUILDER[fmt], data_files=escaped, split="train", cache_dir=cache_dir)
    except InputError:
        raise
    except Exception as e:  # parquet/arrow/json parse errors come in many types; name the file and format
        raise InputError(f"{where}: cannot read as {fmt}: {type(e).__name__}: {e}") from e


def _first_char(file: str) -> str:
    with open(file, encoding="utf-8") as f:
        while chunk := f.read(4096):
            if stripped := chunk.lstrip():
                return stripped[0]
    return ""


def _json_records_dataset(files: list[str], cache_dir: str | None) -> datasets.Dataset:
    """JSON objects mapping ids to records become their records; a file that is JSON Lines goes to ``datasets``."""
    records: list[dict[str, Any]] = []
    for file in files:
        try:
            with open(file, encoding="utf-8") as f:
                content = json.load(f)
        except json.JSONDecodeError:  # several objects, one per line: JSON Lines with a .json name
            escaped = [glob.escape(f) for f in files]
            return datasets.load_dataset("json", data_files=escaped, split="train", cache_dir=cache_dir)
        if isinstance(content, dict) and content and all(isinstance(v, dict) for v in content.values()):
            records.extend(content.values())
        elif isinstance(content, list) and all(isinstance(v, dict) for v in content):
            records.extend(content)
        else:
            raise InputError(f"{file}: expected a list of records or an object mapping ids to records")
    return datasets.Dataset.from_list(records)


def _read_folder(folder: Path, split: str, fmt: str, cache_dir: str | None, where: str, key: str) -> datasets.Dataset:
    saved = (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()
    try:
        if saved or fmt == "save_to_disk":
            loaded = datasets.load_from_disk(str(folder))
        elif fmt == "auto":
            loaded = datasets.load_dataset(str(folder), cache_dir=cache_dir)
        else:
            loaded = datasets.load_dataset(_BUILDER[fmt], data_dir=str(folder), cache_dir=cache_dir)
    except Exception as e:  # no data files, mixed formats, a broken save_to_disk folder, ...
        raise InputError(f"{where}: cannot read this folder ({type(e).__name__}: {e}); give {ACCEPTED}") from e
    return pick_split(loaded, split, where, key)


def pick_split(loaded: datasets.Dataset | datasets.DatasetDict, split: str, where: str, key: str) -> datasets.Dataset:
    """``loaded`` itself when it is one ``Dataset``, else its split ``split`` (unknown: list the splits)."""
    if isinstance(loaded, datasets.Dataset):
        return loaded
    if split not in loaded:
        raise InputError(f"{where} has no split {split!r}; its splits: {', '.join(loaded)}; set {key}.split")
    return loaded[split]


def _read_hub(name: str, split: str, cache_dir: str | None, where: str, key: str) -> datasets.Dataset:
    try:
        return datasets.load_dataset(name, split=split, cache_dir=cache_dir)
    except ValueError as e:
        if str(e).startswith("Unknown split"):
            raise InputError(f"{where}: {e}; set {key}.split") from e
        raise
    except datasets.exceptions.DatasetNotFoundError as e:
        raise InputError(f"{where} is not a local path and the hub has no such dataset (or no access): {e}") from e
    except Exception as e:
        if not _is_network_error(e):
            raise
        raise InputError(
            f"{where} is not a local path, so it was read as a hub name, but the hub is unreachable "
            f"({type(e).__name__}: {e}); download the dataset where the hub is reachable "
            f"(huggingface-cli download --repo-type dataset {name} --local-dir DIR) and pass {key}.path=DIR"
        ) from e


def _is_network_error(error: BaseException) -> bool:
    """A connection failure anywhere in the chain (requests, httpx and huggingface_hub raise their own types)."""
    names = ("ConnectError", "ConnectTimeout", "OfflineModeIsEnabled", "LocalEntryNotFoundError")
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ConnectionError, TimeoutError)) or type(seen).__name__ in names:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def without_image_decoding(dataset: datasets.Dataset) -> datasets.Dataset:
    """``dataset`` with every ``Image`` feature set to ``decode=False`` (same Arrow table, no copy)."""
    features = datasets.Features({name: _undecoded(f) for name, f in dataset.features.items()})
    if features == dataset.features:
        return dataset
    info = copy.deepcopy(dataset.info)
    info.features = features
    # NOTE: datasets has no public accessor for a row selection; a fresh load has none, but keep it if present.
    return datasets.Dataset(dataset.data, info=info, split=dataset.split, indices_table=dataset._indices)


def _undecoded(feature: Any) -> Any:
    if isinstance(feature, datasets.Image):
        return datasets.Image(mode=feature.mode, decode=False)
    if isinstance(feature, datasets.List):
        return datasets.List(_undecoded(feature.feature), length=feature.length)
    if isinstance(feature, datasets.LargeList):
        return datasets.LargeList(_undecoded(feature.feature))
    if isinstance(feature, dict):
        return {name: _undecoded(f) for name, f in feature.items()}
    return feature
