"""The model families the actor trains, keyed by the architecture a checkpoint's ``config.json`` names.

One entry per family says what differs between them on the model side; the bridge keeps the weight names of
each family in a table keyed by the same architectures (``bridge/name_maps``). All three share the Qwen2
decoder (GQA with q/k/v bias, SwiGLU, RMSNorm); they differ in the vision tower and the rope:

| architecture | vision tower (transformers, under ``visual.``) | rope |
|---|---|---|
| ``Qwen2_5_VLForConditionalGeneration`` | ``Qwen2_5_VisionTransformerPretrainedModel`` (RMSNorm, SwiGLU, window attention) | 3-D |
| ``Qwen2VLForConditionalGeneration`` | ``Qwen2VisionTransformerPretrainedModel`` (LayerNorm, GELU MLP, full attention) | 3-D |
| ``Qwen2ForCausalLM`` (Qwen2, Qwen2.5 text models) | none: text-only | 1-D |

3-D rope ("mrope") takes the config's ``mrope_section``; for still images Qwen2-VL and Qwen2.5-VL place
image tokens alike (``data.rope``; they differ for videos only, which are not supported). 1-D rope is 3-D
rope with every rotary frequency on the first axis: the data stage's position ids have three equal rows for
text, so the same Megatron module computes it exactly.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any, Literal

from megatron_mmupt.config.configurable import ConfigError


@dataclasses.dataclass(frozen=True, slots=True)
class ModelFamily:
    architecture: str
    """transformers' class name, as ``config.json``'s ``architectures`` lists it."""
    model_type: str
    """The config's ``model_type``: names the family of a config that lists no architecture (one built in
    memory rather than loaded; ``save_pretrained`` writes ``architectures``)."""
    vision_tower: str | None
    """``module:Class`` of transformers' vision tower, kept under its HF names; ``None`` for text-only models."""
    rope: Literal["mrope", "1d"]
    """``mrope``: 3-D rope with the config's ``mrope_section``; ``1d``: plain rope."""

    @property
    def is_multimodal(self) -> bool:
        return self.vision_tower is not None

    def vision_tower_class(self) -> type:
        if self.vision_tower is None:
            raise ValueError(f"{self.architecture} is a text-only family: it has no vision tower")
        module, name = self.vision_tower.split(":")
        return getattr(importlib.import_module(module), name)

    def hf_model_class(self) -> type:
        """The transformers model class of this family (parity checks, rollout engines)."""
        import transformers

        return getattr(transformers, self.architecture)


FAMILIES: dict[str, ModelFamily] = {
    family.architecture: family
    for family in (
        ModelFamily(
            architecture="Qwen2_5_VLForConditionalGeneration",
            model_type="qwen2_5_vl",
            vision_tower="transformers.models.qwen2_5_vl.modeling_qwen2_5_vl:Qwen2_5_VisionTransformerPretrainedModel",
            rope="mrope",
        ),
        ModelFamily(
            architecture="Qwen2VLForConditionalGeneration",
            model_type="qwen2_vl",
            vision_tower="transformers.models.qwen2_vl.modeling_qwen2_vl:Qwen2VisionTransformerPretrainedModel",
            rope="mrope",
        ),
        ModelFamily(architecture="Qwen2ForCausalLM", model_type="qwen2", vision_tower=None, rope="1d"),
    )
}


def _get(hf_config: Any, key: str) -> Any:
    return hf_config.get(key) if isinstance(hf_config, Mapping) else getattr(hf_config, key, None)


def architecture_of(hf_config: Any) -> str:
    """The one architecture a config (a transformers config or a parsed ``config.json``) names; a config that
    lists none (built in memory) is named by its ``model_type``."""
    names = _get(hf_config, "architectures")
    if not names:
        by_type = {family.model_type: family.architecture for family in FAMILIES.values()}
        if _get(hf_config, "model_type") in by_type:
            return by_type[_get(hf_config, "model_type")]
    if not names or len(names) != 1:
        raise ConfigError(
            f"the model's config.json lists architectures={names!r}; it must name exactly one of: {', '.join(FAMILIES)} "
            "(transformers writes it with save_pretrained)"
        )
    return names[0]


def family_of(hf_config: Any) -> ModelFamily:
    """The family of ``hf_config``; ``ConfigError`` listing the supported architectures otherwise."""
    architecture = architecture_of(hf_config)
    if architecture not in FAMILIES:
        raise ConfigError(f"architecture {architecture!r} is not supported; supported: {', '.join(FAMILIES)}")
    return FAMILIES[architecture]
