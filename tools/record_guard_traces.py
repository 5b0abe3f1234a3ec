"""Record the collapse guard's test traces: the label-free signals of finished demo runs, step by step, with their
held-out curves, so that ``tests/unit/trainer/test_collapse_guard_traces.py`` replays them through the guard's
defaults in milliseconds.

    python tools/record_guard_traces.py --out tests/unit/trainer/collapse_traces.json \
        collapsing=runs/exp/lf2e-4-s1 adopted=runs/demo/label-free-seed1 supervised=runs/demo/supervised-seed1

Each ``NAME=RUN_DIR`` is a finished run (``megatron-mmupt train`` or the demo's); the trace keeps, per step, the
signals the guard reads (``CollapseSignals.from_metrics``) and, at every evaluation, held-out greedy accuracy,
pass@1, maj@8 and the majority share, plus the run's learning rate and reward mode and the command's
``--noise`` (the evaluation's own spread of pass@1, e.g. from the demo's ``eval_noise.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from megatron_mmupt.trainer.collapse_signals import CollapseSignals
from megatron_mmupt.utils.atomic import atomic_write_text

EVAL_KEYS = ("eval/greedy", "eval/pass_at_1", "eval/maj_at_8", "eval/majority_ratio")


def trace(run_dir: Path) -> dict:
    config = json.loads((run_dir / "config.json").read_text())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # Each step as the guard reads it, under the names it logs them (older runs' kl/mean becomes kl/reference).
    steps = [(r["step"], CollapseSignals.from_metrics(r).to_metrics()) for r in records if "vote/majority_ratio" in r]
    keys = sorted(set().union(*(s for _, s in steps)))
    missing = [k for k in keys if any(k not in s for _, s in steps)]
    if missing:
        raise ValueError(f"{run_dir}: {missing} logged at some steps only; record a run that logs them at every step")
    signals = [[step, *(round(s[k], 6) for k in keys)] for step, s in steps]
    evals = [[r["step"], *(r.get(k) for k in EVAL_KEYS)] for r in records if "eval/pass_at_1" in r]
    return {
        "lr": config["actor"]["optimizer"]["lr"], "reward_mode": config["reward"]["mode"], "seed": config["seed"],
        "signal_keys": keys, "signals": signals, "eval_keys": list(EVAL_KEYS), "eval": evals,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--noise", type=float, required=True, help="the evaluation's own std of pass@1 (fraction)")
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN_DIR")
    args = parser.parse_args()
    traces = {name: trace(Path(path)) for name, path in (r.split("=", 1) for r in args.runs)}
    document = {"pass_at_1_eval_std": args.noise, "traces": traces}
    atomic_write_text(args.out, json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.out}: " + ", ".join(f"{n} ({len(t['signals'])} steps)" for n, t in traces.items()))


if __name__ == "__main__":
    main()
