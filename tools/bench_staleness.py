"""Rollout ahead of training against the synchronous loop, side by side: seconds per step and held-out accuracy.

    python tools/bench_staleness.py --seeds 1,2,3 --steps 20 --out runs/bench-staleness

For each seed, the demo recipe trains without labels twice, one run after the other in this process: at
``trainer.max_staleness=0`` (synchronous) and at ``1`` (the engines generate the next step while the actor
trains; ``algorithm.off_policy.weighting=decoupled``). The actor and the engine get one CPU thread each
(``cluster.cpus_per_worker=1``, ``rollout.cpus_per_engine=1``, in both settings), so on a 2-core machine they
can run at the same time; the driver (data, reward) shares the cores. Reported: seconds per step (steps 2..N,
the held-out evaluation excluded) per run and the paired ratio synchronous / ahead, and held-out pass@1 and
maj@8 after the last step (the demo's test questions) with the paired difference and its spread over seeds.

Each run's result is kept in ``<out>/k<k>-seed<s>/result.json`` (an interrupted bench resumes);
``<out>/bench.{json,md}`` are rewritten after every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from megatron_mmupt.demo.main_job import check_base_model, ensure_demo_data, run_config, train_one
from megatron_mmupt.recipes import resolve_run_config
from megatron_mmupt.utils.atomic import atomic_write_text
from megatron_mmupt.utils.known_warnings import install

SETTINGS = {0: (), 1: ("algorithm.off_policy.weighting=decoupled",)}
"""max_staleness -> its further overrides."""


def main() -> None:
    install()
    args = parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    common = [f"trainer.num_steps={args.steps}", "eval.every=0", "cluster.cpus_per_worker=1",
              "rollout.cpus_per_engine=1", "logging.console=false"]  # fmt: skip
    base = resolve_run_config("demo", common)
    ensure_demo_data(base)
    check_base_model(base)
    from megatron_mmupt.parallel.cluster import ray_session

    with ray_session(base.cluster, num_cpus=4):
        for seed in seeds:
            for k, extra in SETTINGS.items():
                run_dir = args.out / f"k{k}-seed{seed}"
                result_file = run_dir / "result.json"
                if not result_file.is_file():
                    overrides = [*common, f"trainer.max_staleness={k}", *extra]
                    result = train_one(run_config(overrides, run_dir, seed=seed, mode="majority"), f"k{k}", seed)
                    result |= {"staleness": k, "seconds_per_step": seconds_per_step(run_dir / "metrics.jsonl")}
                    atomic_write_text(result_file, json.dumps(result, indent=2) + "\n")
                report(args.out)


def seconds_per_step(metrics_file: Path) -> list[float]:
    """Each step's seconds from step 2 on (the first pays the start-up), its held-out evaluation excluded."""
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    return [r["time/step"] - r.get("time/eval", 0.0) for r in rows if r.get("step", 0) >= 2 and "time/step" in r]


def report(out: Path) -> None:
    results = [json.loads(p.read_text()) for p in sorted(out.glob("k*-seed*/result.json"))]
    paired = sorted(
        {r["seed"] for r in results if r["staleness"] == 0} & {r["seed"] for r in results if r["staleness"]}
    )
    by = {(r["staleness"], r["seed"]): r for r in results}
    rows = []
    for seed in paired:
        sync, ahead = by[(0, seed)], by[(1, seed)]
        s0, s1 = statistics.fmean(sync["seconds_per_step"]), statistics.fmean(ahead["seconds_per_step"])
        rows.append({
            "seed": seed, "sync_s": s0, "ahead_s": s1, "speedup": s0 / s1,
            **{f"{m}_{k}": by[(k, seed)]["after"][m] for m in ("pass_at_1", "maj_at_8") for k in (0, 1)},
        })  # fmt: skip
    bench = {"runs": rows, "summary": _summary(rows)}
    atomic_write_text(out / "bench.json", json.dumps(bench, indent=2) + "\n")
    atomic_write_text(out / "bench.md", format_bench(bench) + "\n")
    print(format_bench(bench), flush=True)


def _summary(rows: list[dict]) -> dict:
    def stat(values: list[float]) -> dict:
        return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None}

    if not rows:
        return {}
    out = {key: stat([r[key] for r in rows]) for key in rows[0] if key != "seed"}
    for metric in ("pass_at_1", "maj_at_8"):
        out[f"{metric}_diff"] = stat([r[f"{metric}_1"] - r[f"{metric}_0"] for r in rows])
    return out


def format_bench(bench: dict) -> str:
    lines = ["| seed | s/step synchronous | s/step ahead | speedup | pass@1 sync / ahead | maj@8 sync / ahead |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in bench["runs"]:
        lines.append(
            f"| {r['seed']} | {r['sync_s']:.2f} | {r['ahead_s']:.2f} | {r['speedup']:.2f}x | "
            f"{100 * r['pass_at_1_0']:.1f} / {100 * r['pass_at_1_1']:.1f} | "
            f"{100 * r['maj_at_8_0']:.1f} / {100 * r['maj_at_8_1']:.1f} |"
        )
    s = bench["summary"]
    if s:
        lines += ["", f"speedup (paired, mean ± std over seeds): {pm(s['speedup'])}x; ahead − synchronous: pass@1 "
                  f"{pm(s['pass_at_1_diff'], 100, '+.1f')} points, maj@8 {pm(s['maj_at_8_diff'], 100, '+.1f')} points"]  # fmt: skip
    return "\n".join(lines)


def pm(stat: dict, scale: float = 1.0, fmt: str = ".2f") -> str:
    """mean ± std over seeds (the mean alone for one seed)."""
    spread = "" if stat["std"] is None else f" ± {scale * stat['std']:{fmt.lstrip('+')}}"
    return f"{scale * stat['mean']:{fmt}}{spread}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-staleness"))
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated training seeds (default: 1,2,3)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per run (default: 20)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
