"""Is a checkpoint from this model? Compare the saved HF config with the actor's before loading anything.

Megatron's loader already refuses missing tensors and mismatched shapes, but not everything: the embedding and
output layer load with ``allow_shape_mismatch`` (the padded vocabulary depends on TP), so a checkpoint of a
model with another vocabulary would load silently. Checking the sizes that define the weights first also gives
an error that names the field, instead of a tensor key deep in Megatron.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from megatron_mmupt.utils.errors import InputError

TEXT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "tie_word_embeddings",
)
VISION_FIELDS = (
    "depth",
    "hidden_size",
    "intermediate_size",
    "num_heads",
    "out_hidden_size",
    "patch_size",
    "spatial_merge_size",
    "temporal_patch_size",
    "in_channels",
)


def model_differences(saved: Any, current: Any) -> list[str]:
    """``"field: saved -> current"`` for every weight-defining field that differs between two HF configs."""
    differences = _compare("model_type", getattr(saved, "model_type", None), getattr(current, "model_type", None))
    saved_text, current_text = _text(saved), _text(current)
    for name in TEXT_FIELDS:
        differences += _compare(name, getattr(saved_text, name, None), getattr(current_text, name, None))
    saved_vision, current_vision = getattr(saved, "vision_config", None), getattr(current, "vision_config", None)
    if (saved_vision is None) != (current_vision is None):
        differences.append(f"vision tower: {_presence(saved_vision)} -> {_presence(current_vision)}")
    elif saved_vision is not None:
        for name in VISION_FIELDS:
            differences += _compare(
                f"vision_config.{name}", getattr(saved_vision, name, None), getattr(current_vision, name, None)
            )
    return differences


def check_same_model(path: Path, saved: Any, current: Any, *, saved_spec: str, current_spec: str, model: str) -> None:
    """``InputError`` naming ``path``, the differing fields and the fix, unless both describe the same weights."""
    differences = model_differences(saved, current)
    if saved_spec != current_spec:
        differences.append(f"layer spec: {saved_spec} -> {current_spec} (set actor.spec={saved_spec})")
    if differences:
        raise InputError(
            f"checkpoint {path} was saved from a different model than actor.model={model}: "
            + "; ".join(differences)
            + ". Resume with the model the run started from, or point checkpoint.directory at a new folder "
            "to start afresh"
        )


def _text(config: Any) -> Any:
    return getattr(config, "text_config", None) or config


def _compare(name: str, saved: Any, current: Any) -> list[str]:
    return [] if saved == current else [f"{name}: {saved} -> {current}"]


def _presence(vision: Any) -> str:
    return "none" if vision is None else "present"
