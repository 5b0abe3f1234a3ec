"""Make the demo's base model: the tiny Qwen2.5-VL warmed up by SFT on the demo task, as an HF model folder.

    megatron-mmupt demo-data --out runs/demo-data
    python tools/make_demo_model.py --data runs/demo-data --out examples/demo_base_model --steps 2400 --threads 1
    python tools/make_demo_model.py --data runs/demo-data --out examples/demo_base_model \
        --init examples/demo_base_model --writing --steps 600 --lr 1e-3 --threads 2

1. Encode the train split as the data stage does (``demo.sft.load_split``) and build the demo model
   (``models.tiny_qwen2_5_vl``) with the processor's token ids.
2. SFT on the ``solution`` column (``demo.sft.sft``): loss on the response and ``<|im_end|>`` only.
   ``--writing`` adds question writing (``demo.sft.writing_split``: an image, and in context its
   question, -> another question about it), the instruction following ``megatron-mmupt synthesize`` needs;
   ``--init`` continues from a model folder (its ``training.json`` is kept under ``init``).
3. Stage the folder (safetensors, config, processor files), load it in the local rollout engine and
   evaluate it on the test split: greedy, and pass@1 (mean correctness of ``--samples`` samples) and maj@k
   at each of ``--temperatures``, scored by the reward stage.
4. Write ``training.json`` (schedule, seed, time, the measured figures) and publish the folder atomically.

The schedule is short on purpose: the base model of the label-free demo should be partly competent, with
single samples well below the majority of eight (the gap a majority-vote reward turns into pass@1).
``--steps 20 --num-eval 16`` is the quick mode the tests use.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.demo.sft import (
    EvalConfig,
    SFTConfig,
    evaluate,
    figures_table,
    load_split,
    mean_tail,
    mixed,
    sft,
    writing_split,
)
from megatron_mmupt.models.tiny_qwen2_5_vl import (
    PROCESSOR_FILES,
    TinyQwen2_5_VLConfig,
    hf_config,
    processor_spec,
    publish_model_folder,
    stage_model_folder,
)
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.utils.atomic import atomic_write_text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder written by `megatron-mmupt demo-data`")
    p.add_argument("--out", type=Path, default=Path("examples/demo_base_model"), help="model folder to write")
    p.add_argument("--steps", type=int, default=2400, help="SFT steps (20 for a quick check)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0, help="initialization and data order")
    p.add_argument("--init", type=Path, default=None, help="continue from this model folder (default: random init)")
    p.add_argument("--writing", action="store_true", help="also train question writing on the train images")
    p.add_argument("--num-train", type=int, default=None, help="use only the first rows of the train split")
    p.add_argument("--num-eval", type=int, default=1000, help="test problems to evaluate (0: no evaluation)")
    p.add_argument("--samples", type=int, default=8, help="samples per test problem (k of maj@k)")
    p.add_argument("--temperatures", default="1.0,1.6", help="sampling temperatures to evaluate at (comma-separated)")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    processor_dir = args.data / "processor"
    processors = load_processors(processor_dir)
    t0 = time.perf_counter()
    train = load_split(args.data, "train", processors, limit=args.num_train)
    if args.writing:
        train = mixed(train, writing_split(args.data, "train", processors, limit=args.num_train, seed=args.seed))
    test = load_split(args.data, "test", processors, limit=args.num_eval) if args.num_eval else None
    encode_seconds = time.perf_counter() - t0

    from transformers import Qwen2_5_VLForConditionalGeneration

    sizes = TinyQwen2_5_VLConfig()
    if args.init is not None:
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(args.init, dtype=torch.float32)
        init_report = (
            json.loads((args.init / "training.json").read_text()) if (args.init / "training.json").is_file() else {}
        )
    else:
        model = Qwen2_5_VLForConditionalGeneration(hf_config(sizes, processor_spec(processor_dir)))
        init_report = None
    num_params = sum(p.numel() for p in model.parameters())
    print(f"{num_params / 1e6:.2f} M parameters; {len(train)} train problems (encoded in {encode_seconds:.0f} s)")
    config = SFTConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    t0 = time.perf_counter()
    losses = sft(model, train, config, processors.pad_token_id, log=lambda line: print(line, flush=True))
    sft_seconds = time.perf_counter() - t0

    staging = stage_model_folder(model, args.out, processor_dir)
    evaluations = []
    if test is not None:
        engine = LocalEngine.Config(model_path=str(staging), device="cpu").build()
        for index, temperature in enumerate(float(t) for t in args.temperatures.split(",")):
            t0 = time.perf_counter()
            # Greedy decoding does not depend on the temperature: measured once.
            eval_config = EvalConfig(samples=args.samples, temperature=temperature, greedy=index == 0)
            figures = evaluate(engine, test, eval_config)
            seconds = time.perf_counter() - t0
            evaluations.append({"temperature": temperature, "config": eval_config.to_dict(),
                                "seconds": round(seconds, 1), "figures": figures})  # fmt: skip
            print(f"\nheld-out, {len(test)} problems, T={temperature} ({seconds:.0f} s):")
            print(figures_table(figures))
        engine.shutdown()
    report = {
        "sft": config.to_dict() | {"num_train": len(train), "writing": args.writing, "seconds": round(sft_seconds, 1),
                                   "final_loss": mean_tail(losses), "threads": args.threads},
        "init": init_report,
        "model": (init_report or {}).get("model") or sizes.to_dict() | {"num_params": num_params},
        "evaluations": evaluations,
        "data": {name: _sha256(processor_dir / name) for name in PROCESSOR_FILES if (processor_dir / name).is_file()},
        "command": " ".join(["python", "tools/make_demo_model.py", *(argv if argv is not None else sys.argv[1:])]),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": __import__("transformers").__version__},
    }  # fmt: skip
    atomic_write_text(staging / "training.json", json.dumps(report, indent=2) + "\n")
    out = publish_model_folder(staging, args.out)
    print(f"\nwrote {out} (SFT {sft_seconds:.0f} s, {args.steps} steps)")
    return report


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    main()
