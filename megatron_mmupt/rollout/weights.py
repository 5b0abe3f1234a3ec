"""In-place weight updates of a transformers model from HF checkpoint-named buckets, checked before applied.

Names. The bridge names tensors as the checkpoint on disk does (``model.layers.0.self_attn.q_proj.weight``,
``visual.blocks.0.attn.qkv.weight``: the Qwen2.5-VL hub layout, which SGLang loads), while transformers 5.x
modules live elsewhere (``model.language_model.layers.0...``, ``model.visual...``). The table between the
two is built from transformers' own conversion mapping, the one ``save_pretrained`` applies in reverse
(``transformers.conversion_mapping``), so it follows the library instead of a copy of its regexes. Module
names are accepted too (the table maps each to itself).

Safety. ``plan_update`` reads every bucket and checks every name and shape before ``apply_update`` writes
anything: a bad tensor raises ``WeightUpdateError`` naming it, and the engine keeps its old weights whole.
The price is holding references to the whole update until it is applied (the bridge's tensors, no copy).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from megatron_mmupt.rollout.engine import WeightBucket, WeightUpdateError

MAX_LISTED_PROBLEMS = 5


class CheckpointNames:
    """HF checkpoint name -> parameter of a transformers model (tied parameters under every name)."""

    def __init__(self, model: torch.nn.Module) -> None:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import PrefixChange, WeightConverter, WeightRenaming, rename_source_key

        conversions = getattr(model, "_weight_conversions", None)  # what from_pretrained used, if it loaded
        if conversions is None:  # built from a config: transformers' registered table (as revert_weight_conversion)
            conversions = [
                c for c in get_model_conversion_mapping(model, add_legacy=False) if not isinstance(c, PrefixChange)
            ]
        if any(isinstance(c, WeightConverter) for c in conversions):
            raise WeightUpdateError(
                f"{type(model).__name__} loads some checkpoint tensors through a many-to-one WeightConverter "
                "(e.g. fused experts); in-place updates by checkpoint name support one-to-one renamings only"
            )
        reverse = [c.reverse_transform() for c in conversions[::-1]]
        reverse = [c for c in reverse if isinstance(c, WeightRenaming)]
        self.parameters: dict[str, torch.nn.Parameter] = dict(model.named_parameters(remove_duplicate=False))
        self.to_module: dict[str, str] = {
            rename_source_key(module_name, reverse, [], reverse=True)[0]: module_name for module_name in self.parameters
        }

    def resolve(self, name: str) -> str | None:
        """The module parameter name of checkpoint tensor ``name`` (or of a module name), else ``None``."""
        if name in self.to_module:
            return self.to_module[name]
        return name if name in self.parameters else None

    def checkpoint_names(self) -> list[str]:
        """Every checkpoint name, sorted: the names of a full update (tied weights under each name)."""
        return sorted(self.to_module)

    def suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.to_module.keys(), n=1, cutoff=0.6)
        return f"; did you mean {close[0]!r}?" if close else ""


@dataclasses.dataclass(frozen=True, slots=True)
class UpdatePlan:
    """A checked update: ``(parameter, new value, checkpoint name)`` triples, and its size."""

    items: tuple[tuple[torch.nn.Parameter, torch.Tensor, str], ...]
    num_bytes: int

    @property
    def num_tensors(self) -> int:
        return len(self.items)


def plan_update(names: CheckpointNames, buckets: Iterable[WeightBucket]) -> UpdatePlan:
    """Consume ``buckets`` and check them all; raise ``WeightUpdateError`` listing every problem found.

    Problems: an unknown name, a shape that differs from the parameter's, a non-floating tensor, a name given
    twice. A dtype that differs is fine (``copy_`` converts, e.g. bf16 buckets into an fp32 engine).
    """
    items, problems, seen = [], [], set()
    num_bytes = 0
    for bucket_index, bucket in enumerate(buckets):
        for name, tensor in bucket:
            module_name = names.resolve(name)
            where = f"tensor {name!r} (bucket {bucket_index})"
            if module_name is None:
                problems.append(f"{where}: the model has no such weight{names.suggest(name)}")
                continue
            param = names.parameters[module_name]
            if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
                problems.append(f"{where}: expected a floating-point tensor, got {_describe(tensor)}")
            elif tuple(tensor.shape) != tuple(param.shape):
                problems.append(f"{where}: shape {tuple(tensor.shape)} != the model's {tuple(param.shape)}")
            elif module_name in seen:
                problems.append(f"{where}: given twice in one update")
            else:
                seen.add(module_name)
                items.append((param, tensor, name))
                num_bytes += tensor.numel() * tensor.element_size()
    if problems:
        listed = "\n  ".join(problems[:MAX_LISTED_PROBLEMS])
        more = f"\n  ... and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
        raise WeightUpdateError(f"weight update refused, no weight changed:\n  {listed}{more}")
    return UpdatePlan(tuple(items), num_bytes)


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor"
    return type(value).__name__


@torch.no_grad()
def apply_update(plan: UpdatePlan) -> None:
    """Copy every new value into its parameter in place (device and dtype of the parameter are kept)."""
    for param, tensor, _ in plan.items:
        param.copy_(tensor)


def read_safetensors_folder(path: str | Path) -> Iterator[WeightBucket]:
    """One bucket per ``*.safetensors`` file of an HF model folder (the index's shards when it has one)."""
    from safetensors.torch import load_file

    folder = Path(path)
    if not folder.is_dir():
        raise WeightUpdateError(f"weight folder {folder} does not exist")
    files = _shard_files(folder)
    if not files:
        raise WeightUpdateError(f"no *.safetensors files in {folder}")
    for file in files:
        yield list(load_file(str(file)).items())


def _shard_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return sorted({folder / f for f in json.loads(index.read_text())["weight_map"].values()})
    return sorted(folder.glob("*.safetensors"))


def read_checkpoint_spec(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Checkpoint name -> shape of every tensor of an HF folder, from the safetensors headers (no data read)."""
    from safetensors import safe_open

    spec: dict[str, tuple[int, ...]] = {}
    for file in _shard_files(Path(path)):
        with safe_open(str(file), "pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                spec[name] = tuple(f.get_slice(name).get_shape())
    if not spec:
        raise WeightUpdateError(f"no *.safetensors weights in {path}")
    return spec


def check_bucket(bucket: WeightBucket, spec: dict[str, tuple[int, ...]], bucket_index: int) -> None:
    """Names and shapes of one bucket against a checkpoint's (``read_checkpoint_spec``), before it is sent."""
    problems = []
    for name, tensor in bucket:
        where = f"tensor {name!r} (bucket {bucket_index})"
        if name not in spec:
            close = difflib.get_close_matches(name, spec.keys(), n=1, cutoff=0.6)
            problems.append(
                f"{where}: the checkpoint has no such weight" + (f"; did you mean {close[0]!r}?" if close else "")
            )
        elif tuple(tensor.shape) != spec[name]:
            problems.append(f"{where}: shape {tuple(tensor.shape)} != the checkpoint's {spec[name]}")
    if problems:
        raise WeightUpdateError(
            "weight bucket refused before sending:\n  " + "\n  ".join(problems[:MAX_LISTED_PROBLEMS])
        )


def write_safetensors_folder(buckets: Iterable[WeightBucket], path: str | Path) -> Path:
    """Write buckets as safetensors shards plus ``model.safetensors.index.json`` (the disk transport).

    Files are written under a temporary name and renamed, and the index last, so a reader never sees a
    half-written update. Tensors are made contiguous CPU copies (safetensors' requirement).
    """
    from safetensors.torch import save_file

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    for index, bucket in enumerate(buckets):
        shard = f"bucket-{index:05d}.safetensors"
        tensors = {name: t.detach().to("cpu").contiguous() for name, t in bucket}
        staging = folder / f".{shard}.partial"
        save_file(tensors, str(staging), metadata={"format": "pt"})
        staging.replace(folder / shard)
        weight_map.update(dict.fromkeys(tensors, shard))
    staging = folder / ".model.safetensors.index.json.partial"
    staging.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=1))
    staging.replace(folder / "model.safetensors.index.json")
    return folder
