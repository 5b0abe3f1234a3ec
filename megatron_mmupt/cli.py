"""The ``megatron-mmupt`` command line.

The run subcommands (``score``, ``config``, ``train``) take ``--recipe`` and dotted config overrides
(``reward.mode=vote_share`` or ``--reward.mode=vote_share``). The config is resolved and validated before
any work starts; ``train --dry-run --nodes N --gpus-per-node G`` plans a cluster run instead (layout, memory
per GPU; no GPU needed). ``demo-data`` generates the demo dataset and takes only its four flags. ``serve`` runs the
local rollout engine behind SGLang's HTTP API (``--model``, ``--host``, ``--port``, plus overrides of
``RolloutServer.Config``). ``convert hf-to-mcore`` / ``convert mcore-to-hf`` convert checkpoints (one process
or under torchrun). ``synthesize`` has the model write training questions about a seed dataset's images
(``--method``, ``--model``, ``--data``, ``--out``, plus overrides of ``SynthesisConfig``).
``eval`` evaluates a model on benchmarks (``--model``, ``--benchmark NAME=PATH``, ``--out``, plus overrides
of ``EvalConfig``). New knobs belong
in the typed configs, not in new flags: ``tests/unit/test_cli.py`` freezes this surface.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from megatron_mmupt import __version__
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.utils import known_warnings
from megatron_mmupt.utils.errors import InputError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="megatron-mmupt",
        description="Unsupervised post-training of multimodal LLMs with GRPO and a majority-vote reward (MM-UPT).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    score = commands.add_parser(
        "score",
        help="score a JSONL file of responses with the vote reward and print its diagnostics",
        description="Each input line: {prompt_id, response[, answer][, choices]}. Lines of one prompt_id form a group.",
    )
    score.add_argument("--input", required=True, type=Path, help="JSONL file of responses")
    score.add_argument("--output", required=True, type=Path, help="JSONL file to write (atomically)")
    score.add_argument("--mode", help="reward mode (same as reward.mode=...)")
    _add_config_args(score)

    config = commands.add_parser("config", help="print the resolved config of a recipe with overrides (JSON)")
    _add_config_args(config)

    train = commands.add_parser(
        "train",
        help="train with GRPO and the vote reward (Ray: local, or the cluster at RAY_ADDRESS)",
        description="Runs trainer.num_steps steps; writes config.json, metrics.jsonl, curves.png and checkpoints "
        "under output_dir. Bad configs and missing files fail before any work starts.",
    )
    train.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last checkpoint")
    # The planner: the cluster shape is an input of the plan, not of the run (a real run asks Ray for its GPUs).
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the config for a cluster of --nodes x --gpus-per-node GPUs and print the layout and "
        "memory per GPU; needs no GPU (docs/deploy.md)",
    )
    train.add_argument("--nodes", type=int, default=1, help="nodes of the --dry-run cluster (default: 1)")
    train.add_argument("--gpus-per-node", type=int, default=8, help="GPUs per node for --dry-run (default: 8)")
    train.add_argument(
        "--stage-times",
        help="with --dry-run: seconds per step of rollout, training and sync (rollout=S,training=S,sync=S, or a "
        "finished run's metrics.jsonl) to estimate what trainer.max_staleness >= 1 saves",
    )
    _add_config_args(train)

    main_job = commands.add_parser(
        "demo",
        help="the embedded demo: held-out curves of label-free training vs a random-reward control and a supervised "
        "baseline",
        description="Builds the demo data if missing, evaluates the shipped base model, trains it with a random "
        "reward at the vote's rate (the control), the vote reward (no labels) and the supervised reward for each "
        "seed, evaluating every eval.every steps, and writes summary.json, a table and a plot of the curves under "
        "--out (a previous demo there: its unchanged finished runs are reused). Overrides adjust the demo recipe "
        "(e.g. trainer.num_steps=20).",
    )
    main_job.add_argument(
        "--seeds",
        default="1",
        help="comma-separated training seeds (default: 1; each seed trains three arms, about 13 minutes on 2 cores)",
    )
    main_job.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    main_job.add_argument(
        "--synthesis",
        action="store_true",
        help="instead: train with the vote reward on the original questions vs on questions the model wrote itself",
    )
    main_job.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides of the demo recipe")

    # A data generator, not a run: no recipe, no overrides; its options live in DemoDataset.Config.
    demo = commands.add_parser(
        "demo-data",
        help="generate the demo task (train/test parquet) and the tiny model's tokenizer/processor",
        description="Writes DIR/train.parquet, DIR/test.parquet, DIR/processor/, DIR/dataset_info.json, DIR/README.md.",
    )
    demo.add_argument("--out", required=True, type=Path, help="output folder (new, empty, or a previous demo dataset)")
    demo.add_argument("--seed", type=int, default=0, help="seed of both splits (default: 0)")
    demo.add_argument("--num-train", type=int, default=4000, help="training problems (default: 4000)")
    demo.add_argument("--num-test", type=int, default=1000, help="held-out problems (default: 1000)")

    synth = commands.add_parser(
        "synthesize",
        help="the model writes new training questions about a seed dataset's images (MM-UPT's synthesis)",
        description="Writes OUT/train.parquet (unlabeled, read by `train` with data.source.path=OUT/train.parquet) "
        "and OUT/summary.{json,md} (how many questions each filter kept). Overrides adjust SynthesisConfig "
        "(e.g. filters.min_share=0.6 questions_per_image=4 server_url=http://host:30000).",
    )
    synth.add_argument("--method", required=True, choices=("in-context", "direct"), help="how questions are written")
    synth.add_argument("--model", required=True, type=Path, help="HF model folder (writes and answers)")
    synth.add_argument("--data", required=True, type=Path, help="seed dataset file or folder (its images are used)")
    synth.add_argument("--preset", default="generic", help="dataset preset of the seed data (default: generic)")
    synth.add_argument("--out", required=True, type=Path, help="output folder (new, empty, or a previous output)")
    synth.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides of SynthesisConfig")

    # An evaluation, not a run: its knobs live in EvalConfig (dotted overrides: n=8 benchmarks.demo.max_rows=200).
    evaluate = commands.add_parser(
        "eval",
        help="evaluate a model on benchmarks: pass@1, maj@n and the benchmarks' breakdowns",
        description="Samples n answers per question through a rollout engine and grades them with the reward "
        "stage. Writes OUT/results.{json,md,png}; running it again resumes from OUT/cache/. Benchmarks: "
        "mathvista, we_math, mathverse, mathvision, geometry3k, demo, generic (docs/evaluation.md).",
    )
    evaluate.add_argument(
        "--model", required=True, help="HF model folder, or a training checkpoint (run, checkpoints/ or step_N)"
    )
    evaluate.add_argument(
        "--benchmark", action="append", required=True, metavar="NAME[=PATH]", help="a benchmark and its data "
        "file or folder (repeatable); `demo` alone reads runs/demo-data/test.parquet",
    )  # fmt: skip
    evaluate.add_argument("--out", type=Path, default=Path("runs/eval"), help="output folder (default: runs/eval)")
    evaluate.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides of EvalConfig")

    # A server, not a run: its knobs live in RolloutServer.Config (dotted overrides: engine.device=cuda).
    serve = commands.add_parser(
        "serve",
        help="serve a model with the local rollout engine behind SGLang's HTTP API (the subset our client uses)",
        description="Paths and fields as SGLang 0.5.23: /generate, /update_weights_from_disk, /pause_generation, "
        "/health, ... (docs/rollout.md). Overrides set RolloutServer.Config, e.g. engine.dtype=bfloat16.",
    )
    # SGLang's spelling (arg_groups/fields/model.py: --model-path, alias --model), so a launch line works for both.
    serve.add_argument("--model-path", "--model", dest="model_path", required=True, type=Path,
                       help="HF model folder (weights, config, tokenizer); --model is an alias, as in SGLang")  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=30000, help="port to listen on, 0 for any free one (default: 30000)")
    serve.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted RolloutServer.Config overrides")
    _add_convert_parser(commands)
    return parser


def _add_convert_parser(commands: argparse._SubParsersAction) -> None:
    # Checkpoint converters: one process or under torchrun (every rank runs the same command); docs/bridge.md.
    convert = commands.add_parser("convert", help="convert checkpoints between Hugging Face and Megatron-Core")
    directions = convert.add_subparsers(dest="direction", required=True, metavar="DIRECTION")
    to_mcore = directions.add_parser(
        "hf-to-mcore",
        help="HF folder -> Megatron dist-checkpoint at --tp/--pp",
        description="Under torchrun the world size must be a multiple of tp * pp.",
    )
    to_mcore.add_argument("--hf", required=True, type=Path, help="Hugging Face model folder (config.json, safetensors)")
    to_mcore.add_argument("--out", required=True, type=Path, help="checkpoint folder to create (new or empty)")
    to_mcore.add_argument("--tp", type=int, default=1, help="tensor-parallel degree (default: 1)")
    to_mcore.add_argument("--pp", type=int, default=1, help="pipeline-parallel degree (default: 1)")
    to_hf = directions.add_parser(
        "mcore-to-hf",
        help="Megatron dist-checkpoint (from hf-to-mcore) -> HF folder",
        description="Loads at the launch's TP/PP (largest TP the heads allow, then PP); rank 0 writes.",
    )
    to_hf.add_argument("--ckpt", required=True, type=Path, help="checkpoint folder written by hf-to-mcore")
    to_hf.add_argument("--out", required=True, type=Path, help="Hugging Face folder to create (new or empty)")


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", default="demo", help="recipe name or package.module:function (default: demo)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    # `--reward.mode=vote_share` is an override too; anything else unknown is a usage error.
    for token in unknown:
        if not (token.startswith("--") and "=" in token and "." in token.split("=", 1)[0]):
            parser.error(f"unrecognized argument {token!r}; config overrides are written key.path=value")
    args.overrides = [*getattr(args, "overrides", []), *unknown]
    return args


def _resolve(args: argparse.Namespace):
    from megatron_mmupt.recipes import resolve_run_config

    overrides = list(args.overrides)
    if getattr(args, "mode", None):
        overrides.insert(0, f"reward.mode={args.mode}")
    return resolve_run_config(args.recipe, overrides)


def cmd_score(args: argparse.Namespace) -> int:
    from megatron_mmupt.config.serialization import write_config
    from megatron_mmupt.reward.report import format_summary
    from megatron_mmupt.reward.score_file import score_file

    config = _resolve(args)
    stage = config.reward.build()
    try:
        batch = score_file(stage, args.input, args.output)
    finally:
        stage.close()
    config_path = write_config(config, args.output.parent, filename=args.output.name + ".config.json")
    print(format_summary(batch, config.reward.mode))
    print(f"\nwrote {args.output} (scores) and {config_path} (resolved config)")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(_resolve(args).to_dict(), indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.dry_run:
        from megatron_mmupt.planner import StageTimes, dry_run_recipe

        times = None if args.stage_times is None else StageTimes.parse(args.stage_times)
        print(dry_run_recipe(args.recipe, args.overrides, nodes=args.nodes, gpus_per_node=args.gpus_per_node,
                             stage_times=times))  # fmt: skip
        return 0
    if (args.nodes, args.gpus_per_node) != (1, 8) or args.stage_times is not None:
        raise ConfigError(
            "--nodes, --gpus-per-node and --stage-times describe the cluster of --dry-run; a run takes Ray's GPUs"
        )
    from megatron_mmupt.train import train

    metrics = train(_resolve(args), resume=args.resume)
    held_out = {k: round(v, 4) for k, v in metrics.items() if k.startswith("eval/")}
    print(f"done: {held_out}" if held_out else "done")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from megatron_mmupt.demo.main_job import run_main_job

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds:
        raise ConfigError("--seeds is empty; give comma-separated integers, e.g. --seeds 1,2,3")
    if args.synthesis:
        from megatron_mmupt.demo.synthesis_job import run_synthesis_job

        run_synthesis_job(args.out, seeds=seeds, overrides=list(args.overrides))
    else:
        run_main_job(args.out, seeds=seeds, overrides=list(args.overrides))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from megatron_mmupt.demo.task import DemoDataset

    if args.overrides:
        raise ConfigError(f"demo-data takes no config overrides, got {' '.join(args.overrides)}")
    config = DemoDataset.Config(seed=args.seed, num_train=args.num_train, num_test=args.num_test)
    info = config.build().write(args.out)
    splits = ", ".join(f"{name} {s['num_rows']} rows" for name, s in info["splits"].items())
    print(f"wrote {args.out}: {splits}; processor vocabulary {info['processor']['vocab_size']} tokens")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from megatron_mmupt.config.overrides import apply_overrides
    from megatron_mmupt.rollout.local.engine import LocalEngine
    from megatron_mmupt.rollout.serve.server import RolloutServer

    config = RolloutServer.Config(engine=LocalEngine.Config(model_path=str(args.model_path)), host=args.host,
                                  port=args.port)  # fmt: skip
    server = apply_overrides(config, args.overrides).build()
    print(f"megatron-mmupt serve: {args.model_path} at {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the server; not an error
        server.serve_forever()
    return 0


def cmd_synthesize(args: argparse.Namespace) -> int:
    from megatron_mmupt.config.overrides import apply_overrides
    from megatron_mmupt.data.source import DatasetSource
    from megatron_mmupt.synthesis import SynthesisConfig, summary_table, synthesize

    config = SynthesisConfig(
        method=args.method, model_path=str(args.model), output_dir=str(args.out),
        seed_data=DatasetSource.Config(path=str(args.data), preset=args.preset),
    )  # fmt: skip
    summary = synthesize(apply_overrides(config, args.overrides))
    print(summary_table(summary))
    if not summary["kept"]:
        raise InputError(f"no written question passed the filters; {args.out / 'summary.md'} shows where they went")
    print(f"\nwrote {args.out / 'train.parquet'} ({summary['kept']} questions) and {args.out / 'summary.json'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from megatron_mmupt.evaluation.benchmarks import parse_benchmark_arg
    from megatron_mmupt.evaluation.report import RESULTS_MD, format_overview
    from megatron_mmupt.evaluation.runner import EvalConfig, apply_eval_overrides, run_eval

    benchmarks = tuple(parse_benchmark_arg(text) for text in args.benchmark)
    config = EvalConfig(model=args.model, output_dir=str(args.out), benchmarks=benchmarks)
    report = run_eval(apply_eval_overrides(config, args.overrides))
    print(f"\n{format_overview(report)}\n\nbreakdowns per benchmark: {args.out / RESULTS_MD}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    if args.overrides:
        raise ConfigError(f"convert takes no config overrides, got {' '.join(args.overrides)}")
    if args.direction == "hf-to-mcore":
        from megatron_mmupt.bridge.convert.hf_to_mcore import hf_to_mcore
        from megatron_mmupt.parallel.config import ParallelConfig

        parallel = ParallelConfig(tensor_degree=args.tp, pipeline_degree=args.pp)
        report = hf_to_mcore(args.hf, args.out, parallel=parallel)
    else:
        from megatron_mmupt.bridge.convert.mcore_to_hf import mcore_to_hf

        report = mcore_to_hf(args.ckpt, args.out)
    if report.rank == 0:
        print(report.summary(args.direction))
    return 0


COMMANDS = {
    "score": cmd_score,
    "config": cmd_config,
    "train": cmd_train,
    "demo": cmd_demo,
    "demo-data": cmd_demo_data,
    "serve": cmd_serve,
    "convert": cmd_convert,
    "eval": cmd_eval,
    "synthesize": cmd_synthesize,
}


def main(argv: Sequence[str] | None = None) -> int:
    known_warnings.install()  # third-party fallback notices; Ray workers install it too (parallel/cluster.py)
    args = parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # `megatron-mmupt config | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except (ConfigError, InputError, ImportError, OSError) as e:
        # Expected failures (bad config, bad input, missing optional package): one clear line, no traceback.
        print(f"megatron-mmupt {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
