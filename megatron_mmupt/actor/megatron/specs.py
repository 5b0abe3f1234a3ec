"""Layer specs: Transformer Engine where it imports (GPU machines), Megatron's local spec otherwise.

The choice changes kernels and parameter names (the TE spec fuses each norm into the following linear:
``linear_qkv.layer_norm_weight``, ``linear_fc1.layer_norm_weight``), never the math; the bridge maps both.
"""

from __future__ import annotations

from typing import Literal

from megatron.core.transformer.spec_utils import ModuleSpec

SpecName = Literal["auto", "te", "local"]


def transformer_engine_available() -> bool:
    try:
        import transformer_engine  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_spec(name: SpecName) -> Literal["te", "local"]:
    if name == "auto":
        return "te" if transformer_engine_available() else "local"
    if name == "te" and not transformer_engine_available():
        raise ImportError("layer spec 'te' needs transformer_engine, which does not import here; use 'local' or 'auto'")
    return name


def layer_spec(name: Literal["te", "local"]) -> ModuleSpec:
    from megatron.core.models.gpt import gpt_layer_specs

    if name == "te":
        return gpt_layer_specs.get_gpt_layer_with_transformer_engine_spec()
    return gpt_layer_specs.get_gpt_layer_local_spec(normalization="RMSNorm")
