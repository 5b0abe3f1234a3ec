"""One-shot GPU acceptance check: five sections, one JSON report, one process tree (no Ray, no torchrun).

    python tools/gpu_check.py --out gpu_check.json            # one GPU: Qwen2.5-VL-7B width, 2 layers
    python tools/gpu_check.py --cpu --out gpu_check_cpu.json  # the same code on the CPU, tiny shapes (CI)

Sections (``megatron_mmupt/gpu_check/``), in this order:

* parity     bf16 Megatron Qwen2.5-VL (local spec) vs transformers: max and mean |logit difference|
* grpo_step  one GRPO step of the actor (old and reference log-probs, the update): seconds, tokens/s, MFU
* offload    memory_allocated before/after offload and after onload vs the bytes the actor reports freed;
             the planner's estimate beside the measured peak
* engine     the local engine's tokens/s at n=8
* ipc        one weight bucket by CUDA-IPC handle into another process: bit-exact, GB/s vs a device copy

A section that raises is recorded with its traceback and the others still run. The exit status is 0 when
every section passed, 1 otherwise, 2 when the setup (model folder, prompts) failed. How to run it on a GPU
machine without a package index (the wheels to carry, the time it takes): tools/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, when run from a bare checkout
if TYPE_CHECKING:
    from megatron_mmupt.gpu_check.actors import ActorContext
    from megatron_mmupt.gpu_check.report import SectionResult
    from megatron_mmupt.gpu_check.workload import Workload

SECTIONS = ("parity", "grpo_step", "offload", "engine", "ipc")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="run on the CPU with tiny shapes (figures marked CPU)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON report to write")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--layers", type=int, default=None, help="decoder layers of the model (default: 2)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the model (default: a temporary one)")
    parser.add_argument(
        "--device-strict", action="store_true",
        help="with --cpu: the actor sections on a logical cuda:0 under the device-strict shim (tensors left on the "
        "host raise, as on a GPU)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.device_strict and not args.cpu:
        parser.error("--device-strict simulates a GPU on the CPU: use it with --cpu")
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


def _environment(cpu: bool, device_strict: bool) -> None:
    """Before torch is imported: hide GPUs for --cpu; a one-rank process group on a free local port."""
    if cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if device_strict:
        os.environ["MEGATRON_MMUPT_DEVICE_STRICT"] = "1"  # read by cpu_shim.apply()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    import torch

    found: dict[str, str | None] = {"torch": torch.__version__, "cuda": torch.version.cuda}
    for name in ("megatron-core", "transformers", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()  # before torch's import: the wall time covers everything but Python's start
    args = _parse(argv)
    _environment(args.cpu, args.device_strict)
    import torch

    from megatron_mmupt.gpu_check import workload as wl
    from megatron_mmupt.gpu_check.actors import ActorContext
    from megatron_mmupt.gpu_check.report import render_table, run_section

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible; run with --cpu for the CPU variant", file=sys.stderr)
        return 2
    workload = wl.CPU if args.cpu else wl.GPU
    if args.layers:
        workload = dataclasses.replace(workload, num_layers=args.layers)
    if args.device_strict:
        from megatron_mmupt.actor.megatron import cpu_shim

        cpu_shim.apply()  # strict mode must see the actor's tensors from their creation on
        workload = dataclasses.replace(workload, device_strict=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check."))
    context: dict[str, ActorContext] = {}

    def setup() -> tuple[dict, list[str]]:
        model_dir = wl.make_model_folder(workload, work / "model")
        prompts = wl.make_prompts(workload, model_dir)
        context["ctx"] = ActorContext(workload, model_dir, prompts)
        return {"model_dir": str(model_dir), "prompt_tokens": [p.num_tokens for p in prompts]}, []

    report = _Report(args, workload, started, argv)
    report.record(run_section("setup", setup))
    if report.results[0].ok:
        _run_sections(context["ctx"], args.sections.split(","), report.record)
        _teardown(context["ctx"])
    written = report.write(complete=True)
    print(render_table(report.results))
    print(f"gpu_check: {'PASSED' if written['passed'] else 'FAILED'} in {written['wall_seconds']:.0f} s -> {args.out}")
    if not report.results[0].ok:
        return 2
    return 0 if written["passed"] else 1


@dataclasses.dataclass
class _Report:
    """The JSON report, rewritten after every section: a run killed at its time limit keeps what it measured
    (``complete`` stays false)."""

    args: argparse.Namespace
    workload: Workload
    started: float
    argv: list[str] | None
    results: list[SectionResult] = dataclasses.field(default_factory=list)

    def record(self, result: SectionResult) -> None:
        self.results.append(result)
        self.write(complete=False)

    def write(self, *, complete: bool) -> dict:
        from megatron_mmupt.gpu_check.report import write_report
        from megatron_mmupt.gpu_check.workload import device_name

        argv = self.argv if self.argv is not None else sys.argv[1:]
        header = {
            "mode": self.workload.mode,
            "figures": _figures_note(self.args.cpu, self.args.device_strict),
            "device": device_name(self.workload),
            "versions": _versions(),
            "workload": dataclasses.asdict(self.workload),
            "command": " ".join(["tools/gpu_check.py", *argv]),
            "wall_seconds": time.perf_counter() - self.started,
            "complete": complete,
        }
        return write_report(self.args.out, header, self.results)


def _figures_note(cpu: bool, device_strict: bool) -> str:
    if not cpu:
        return "GPU"
    strict = "; device-strict: the actor's tensors on a logical cuda:0" if device_strict else ""
    return f"CPU: tiny shapes, the code path only (not performance){strict}"


def _run_sections(ctx: ActorContext, names: list[str], record: Callable[[SectionResult], None]) -> None:
    from megatron_mmupt.gpu_check.engine import engine_section
    from megatron_mmupt.gpu_check.grpo import grpo_section
    from megatron_mmupt.gpu_check.ipc import ipc_section
    from megatron_mmupt.gpu_check.offload import offload_section
    from megatron_mmupt.gpu_check.parity import parity_section
    from megatron_mmupt.gpu_check.report import run_section

    functions = {"parity": parity_section, "grpo_step": grpo_section, "offload": offload_section,
                 "engine": engine_section, "ipc": ipc_section}  # fmt: skip
    for name in SECTIONS:
        if name in names:
            record(run_section(name, lambda fn=functions[name]: fn(ctx)))
        if name == "offload":
            ctx.release()  # the engine and the IPC bucket need the actors' memory


def _teardown(ctx: ActorContext) -> None:
    if ctx.groups is None:
        return
    from megatron_mmupt.actor.megatron.distributed import destroy_parallel

    try:
        destroy_parallel()
    except Exception as error:  # NOTE: the figures are measured; a failing teardown must not lose the report
        print(f"gpu_check: destroying the process group failed: {error!r}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
