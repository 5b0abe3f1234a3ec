"""The known third-party warnings are filtered by message and module, and nothing else is."""

import warnings

import pytest

from megatron_mmupt.utils.known_warnings import KNOWN_WARNINGS, RAY_WORKER_SETUP_HOOK, install, install_in_worker


def emitted(message: str, module: str) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        install()  # inserted before "always": the known ones are ignored
        install()  # idempotent
        warnings.warn_explicit(message, UserWarning, "x.py", 1, module=module)
    return bool(caught)


@pytest.mark.parametrize(
    ("message", "module"),
    [
        ("Apex is not installed. Falling back to Torch Norm", "megatron.core.models.backends"),
        ("Transformer Engine and Apex are not installed. Falling back to Torch optimizers.", "megatron.core.optimizer"),
        (
            "Transformer Engine and Apex are not installed. Falling back to local implementations of x",
            "megatron.core.distributed.fsdp.src.megatron_fsdp.mixed_precision",
        ),
        (
            "full scope is deprecated. Use empty cuda_graph_scope to capture the whole layer.",
            "megatron.core.transformer.transformer_config",
        ),
    ],
)
def test_known_warnings_are_silent(message, module):
    assert not emitted(message, module)


def test_other_warnings_and_other_modules_still_show():
    assert emitted("Apex is not installed. Falling back to Torch Norm", "megatron_mmupt.actor.megatron.specs")
    assert emitted("something else went wrong", "megatron.core.optimizer")
    assert emitted("a CUDA graph scope of full is deprecated", "megatron.core.transformer.transformer_config")


def test_install_adds_one_filter_per_known_warning():
    with warnings.catch_warnings():
        warnings.resetwarnings()
        install()
        install()
        assert len(warnings.filters) == len(KNOWN_WARNINGS)
        assert all(f[0] == "ignore" and f[1] is not None and f[3] is not None for f in warnings.filters)
    module, _, name = RAY_WORKER_SETUP_HOOK.rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is install_in_worker


def test_a_worker_also_hides_the_weight_loading_bar():
    from transformers.utils import logging as transformers_logging

    with warnings.catch_warnings():
        try:
            install_in_worker()
            assert not transformers_logging.is_progress_bar_enabled()
        finally:
            transformers_logging.enable_progress_bar()
