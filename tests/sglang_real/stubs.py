"""What SGLang 0.5.23 imports but cannot have on a CPU machine, replaced before ``import sglang`` (env-notes §10).

* ``triton``: SGLang's own stub (``sglang/_platform_stubs.py``), the one SGLang installs on Apple Silicon where
  triton does not exist either. Its installer only runs on darwin/arm64 with MPS, so it is called with those three
  checks answered yes; besides triton it adds missing ``torch.mps`` helpers and makes ``copy_`` synchronous on MPS
  only, neither of which a CPU process uses.
* ``torchvision`` and ``soundfile``: empty mock modules. PyPI's torchvision is a CUDA build that breaks ``import
  transformers`` on CPU torch (env-notes §7); transformers first records that torchvision is absent, so its image
  processors keep their PIL path, and only then does the mock answer SGLang's unconditional imports.

Run in the SGLang process only (the test's server subprocess): the stubs are process-wide.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import platform
import sys
from unittest import mock


def install() -> None:
    import torch
    import transformers.utils.import_utils as import_utils

    import_utils.is_torchvision_available()  # cached as False before the mock exists
    import_utils.is_soundfile_available()
    for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.io",
                 "torchvision.ops", "soundfile"):  # fmt: skip
        stub = mock.MagicMock(name=name)
        stub.__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules.setdefault(name, stub)
    # The stub file alone (stdlib + torch), not through ``import sglang``, whose __init__ would import the rest of
    # SGLang while the platform checks are answered "darwin".
    origin = importlib.util.find_spec("sglang").submodule_search_locations[0] + "/_platform_stubs.py"
    spec = importlib.util.spec_from_file_location("sglang_platform_stubs", origin)
    module = sys.modules["sglang_platform_stubs"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with (
        mock.patch.object(sys, "platform", "darwin"),
        mock.patch.object(platform, "machine", return_value="arm64"),
        mock.patch.object(torch.backends.mps, "is_available", return_value=True),
    ):
        module.install_platform_stubs()
