"""Benchmark: the local rollout engine's generation throughput and weight-update cost, on CPU.

    python tools/bench_rollout.py                      # both parts, markdown tables
    python tools/bench_rollout.py --part generate --prompts 8 --n 8 --max-new-tokens 64 --reps 3
    python tools/bench_rollout.py --part weights --reps 3 --bucket-mib 64

**generate**: the tiny demo model (``models.tiny_qwen2_5_vl``, its default sizes) on demo prompts (one
112 px image each). Generated tokens per second, EOS included, of

* ``LocalEngine.generate``: all ``prompts x n`` samples in one decode batch, each prompt prefilled once;
* transformers ``generate()`` once per sample (batch 1, ``prompts x n`` calls): the baseline;
* transformers ``generate(num_return_sequences=n)`` once per prompt: a stronger baseline, reported too.

Same model weights (a second copy loaded from the same folder), prompts, ``max_new_tokens``, temperature
(top-p 1, no top-k) and suppressed tokens (``TokenPolicy``: transformers gets them as ``suppress_tokens``).
The paths alternate rep by rep after one warm-up rep; the table gives the median.

**weights**: a larger model of the same architecture (hidden 1024, 8 layers, fp32: ~0.4 GB) and a new set
of weights under their HF checkpoint names, bucketed as the bridge yields them. Seconds per GB of weights for
each way the local engine takes an update: ``update_weights`` and ``update_weights_from_disk`` in process;
``update_weights`` of a local engine in a Ray actor (``rollout.ray_local``: the buckets travel through Ray's
object store); over HTTP through ``megatron-mmupt serve`` on loopback, with the client's disk transport end
to end (check, write safetensors, POST, server load) and the server's load of a written folder alone.
Alternating reps after one warm-up, median; every update is checked to have reached its engine. The
CUDA-IPC (``tensor``) and NCCL (``distributed``) transports need GPUs and SGLang: not measured here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig, create_model_folder

LARGE = TinyQwen2_5_VLConfig(
    hidden_size=1024, intermediate_size=2816, num_layers=8, num_attention_heads=16, num_key_value_heads=4,
    mrope_section=(8, 12, 12), vision_hidden_size=256, vision_intermediate_size=1024, vision_depth=4,
    vision_num_heads=4,
)  # fmt: skip


def demo_data(folder: Path, num_prompts: int) -> tuple[Path, object]:
    """Demo dataset in ``folder`` and the first ``num_prompts`` of its training split as a ``PromptBatch``."""
    import datasets

    from megatron_mmupt.config.overrides import apply_overrides
    from megatron_mmupt.data.pipeline import PromptPipeline
    from megatron_mmupt.data.processing import load_processors
    from megatron_mmupt.demo.task import DemoDataset

    datasets.disable_progress_bars()
    DemoDataset.Config(num_train=max(num_prompts, 16), num_test=4).build().write(folder)
    config = apply_overrides(
        PromptPipeline.Config(),
        [f"source.path={folder / 'train.parquet'}", f"sampler.batch_size={num_prompts}", "num_workers=0"],
    )
    return folder, config.build(processors=load_processors(folder / "processor")).next_batch()


def interleaved(paths: dict[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Each path's returned measure per rep, paths alternating, after one warm-up rep that is dropped."""
    results: dict[str, list[float]] = {name: [] for name in paths}
    for rep in range(reps + 1):
        for name, fn in paths.items():
            value = fn()
            if rep:
                results[name].append(value)
    return results


# --- generation ---------------------------------------------------------------------------------------


def generated_tokens(rows: torch.Tensor, eos: set[int]) -> int:
    """Tokens of ``rows # (R, T)`` up to and including each row's first EOS (transformers pads after it)."""
    total = 0
    for row in rows.tolist():
        ends = [i for i, t in enumerate(row) if t in eos]
        total += ends[0] + 1 if ends else len(row)
    return total


def hf_generate(model, prompt, policy, *, num_samples: int, max_new_tokens: int, temperature: float) -> int:
    """transformers ``generate`` of ``num_samples`` samples of one prompt in one call; returns tokens generated."""
    ids = prompt.input_ids[None]  # (1, S)
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=prompt.pixel_values,
        image_grid_thw=prompt.image_grid_thw,
        mm_token_type_ids=(ids == model.config.image_token_id).int(),
        do_sample=True,
        temperature=temperature,
        top_p=1.0,
        top_k=0,
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_samples,
        suppress_tokens=[t for t in policy.suppressed_token_ids if t not in policy.eos_token_ids],
        eos_token_id=list(policy.eos_token_ids),
        pad_token_id=policy.pad_token_id,
    )
    return generated_tokens(out[:, ids.shape[1] :], set(policy.eos_token_ids))


def bench_generate(args: argparse.Namespace, tmp: Path) -> str:
    from transformers import Qwen2_5_VLForConditionalGeneration

    from megatron_mmupt.rollout.engine import SamplingConfig
    from megatron_mmupt.rollout.local.engine import LocalEngine

    data, batch = demo_data(tmp / "data", args.prompts)
    model_dir = create_model_folder(tmp / "tiny", data / "processor", seed=0)
    engine = LocalEngine.Config(model_path=str(model_dir), device="cpu", dtype="float32").build()
    hf = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    policy = engine.token_policy
    sampling = SamplingConfig(
        n=args.n, temperature=args.temperature, top_p=1.0, max_new_tokens=args.max_new_tokens, seed=0
    )
    common = {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature}

    def timed(fn: Callable[[], int]) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            tokens = fn()
            return tokens / (time.perf_counter() - start)

        return run

    def local() -> int:
        return sum(r.num_tokens for g in engine.generate(batch, sampling) for r in g.rollouts)

    @torch.no_grad()
    def per_sample() -> int:
        return sum(hf_generate(hf, p, policy, num_samples=1, **common) for p in batch for _ in range(args.n))

    @torch.no_grad()
    def per_prompt() -> int:
        return sum(hf_generate(hf, p, policy, num_samples=args.n, **common) for p in batch)

    paths = {
        "LocalEngine.generate (one batch)": timed(local),
        "transformers generate(), once per sample": timed(per_sample),
        "transformers generate(num_return_sequences=n), once per prompt": timed(per_prompt),
    }
    rates = {name: statistics.median(v) for name, v in interleaved(paths, args.reps).items()}
    baseline = rates["transformers generate(), once per sample"]
    lines = [
        f"tiny demo model, {len(batch)} prompts x n={args.n}, max_new_tokens={args.max_new_tokens}, "
        f"T={args.temperature}, top_p=1; median of {args.reps} interleaved reps after one warm-up; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "",
        "| path | generated tokens/s | vs per-sample generate() |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {rate:.0f} | {rate / baseline:.1f}x |" for name, rate in rates.items()]
    return "\n".join(lines)


# --- weight updates -----------------------------------------------------------------------------------


def bench_weights(args: argparse.Namespace, tmp: Path) -> str:
    from safetensors.torch import load_file

    from megatron_mmupt.bridge.exporter import bucket_by_bytes
    from megatron_mmupt.rollout.weights import write_safetensors_folder

    data, _ = demo_data(tmp / "data", 1)
    model_dir = create_model_folder(tmp / "large", data / "processor", LARGE, seed=0)
    # The "trainer's" new weights: every tensor changed, HF checkpoint names, in bridge-sized buckets.
    new = [(name, t * 1.001) for name, t in sorted(load_file(str(model_dir / "model.safetensors")).items())]
    buckets = list(bucket_by_bytes(new, args.bucket_mib << 20))
    gb = sum(t.numel() * t.element_size() for _, t in new) / 1e9
    prewritten = write_safetensors_folder(buckets, tmp / "prewritten")
    with contextlib.ExitStack() as stack:
        paths = weight_update_paths(model_dir, buckets, prewritten, tmp, stack)
        seconds = {name: statistics.median(v) for name, v in interleaved(paths, args.reps).items()}
    baseline = seconds["in process: update_weights(buckets)"]
    lines = [
        f"{gb:.3f} GB of fp32 weights ({len(new)} tensors, {len(buckets)} buckets of <= {args.bucket_mib} MiB); "
        f"median of {args.reps} interleaved reps after one warm-up; files on {_filesystem(tmp)}",
        "",
        "| transport | seconds | seconds per GB | GB/s | vs in-process buckets |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {s:.2f} | {s / gb:.2f} | {gb / s:.2f} | {s / baseline:.1f}x |" for n, s in seconds.items()]
    return "\n".join(lines)


def weight_update_paths(
    model_dir: Path, buckets: list, prewritten: Path, tmp: Path, stack: contextlib.ExitStack
) -> dict[str, Callable[[], float]]:
    """One timed update per call for each transport; every call sends a new version, each engine checks it."""
    import ray

    from megatron_mmupt.rollout.local.engine import LocalEngine
    from megatron_mmupt.rollout.ray_local import launch_local_engines
    from megatron_mmupt.rollout.sglang.args import SGLangConfig
    from megatron_mmupt.rollout.sglang.client import SGLangClient
    from megatron_mmupt.rollout.sglang.ray_engine import SGLangServer, local_serve_command
    from megatron_mmupt.rollout.sglang.transports.single import WeightTransportConfig
    from megatron_mmupt.rollout.weights import read_safetensors_folder

    config = LocalEngine.Config(model_path=str(model_dir), device="cpu")
    engine = config.build()
    server = SGLangServer(
        SGLangConfig(model_path=str(model_dir)), seed=0, command=local_serve_command, log_dir=str(tmp)
    )
    url = server.start()
    stack.callback(server.stop)
    client = SGLangClient(
        SGLangClient.Config(
            url=url,
            model_path=str(model_dir),
            control_timeout_s=600.0,
            weight_transport=WeightTransportConfig(disk_dir=str(tmp / "sync")),
        )
    )
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    stack.callback(ray.shutdown)
    remote = launch_local_engines(1, config, num_cpus=1)[0]
    versions = iter(range(1, 1 << 30))

    def timed(update: Callable[[int], None], version_of: Callable[[], int]) -> Callable[[], float]:
        def run() -> float:
            version = next(versions)
            start = time.perf_counter()
            update(version)
            elapsed = time.perf_counter() - start
            assert version_of() == version, "the engine did not take the update"
            return elapsed

        return run

    local_version, http_version = (lambda: engine.weight_version), (lambda: client.weight_version)
    return {
        "in process: update_weights(buckets)": timed(
            lambda v: engine.update_weights(buckets, version=v), local_version
        ),
        "in process: update_weights_from_disk(folder)": timed(
            lambda v: engine.update_weights(read_safetensors_folder(prewritten), version=v), local_version
        ),
        "Ray actor: update_weights(buckets) through the object store": timed(
            lambda v: remote.update_weights(buckets, version=v), lambda: remote.weight_version
        ),
        "HTTP, disk transport end to end (check, write, POST, server load)": timed(
            lambda v: client.update_weights(buckets, version=v), http_version
        ),
        "HTTP, POST /update_weights_from_disk of a written folder (server load)": timed(
            lambda v: client.update_weights_from_disk(prewritten, version=v), http_version
        ),
    }


def _filesystem(path: Path) -> str:
    """Mount point and file system type holding ``path`` (tmpfs vs disk matters for the disk transport)."""
    path = path.resolve()
    mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    holding = [(point, kind) for point, kind in mounts if path.is_relative_to(point)]
    point, kind = max(holding, key=lambda m: len(m[0]), default=(str(path), "unknown"))
    return f"{point} ({kind})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("all", "generate", "weights"), default="all")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per batch (default 8)")
    parser.add_argument("--n", type=int, default=8, help="samples per prompt (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="default 64")
    parser.add_argument("--temperature", type=float, default=1.0, help="default 1.0")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions after one warm-up (default 3)")
    parser.add_argument("--bucket-mib", type=int, default=64, help="weight bucket size in MiB (default 64)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("all", "generate"):
            print(bench_generate(args, Path(tmp) / "generate"), end="\n\n", flush=True)
        if args.part in ("all", "weights"):
            print(bench_weights(args, Path(tmp) / "weights"), flush=True)


if __name__ == "__main__":
    main()
