"""Benchmark: our vote-reward stage vs the MM-UPT reference approach, same inputs, same process.

Inputs: ``--prompts`` x ``--group-size`` synthetic chain-of-thought responses (``megatron_mmupt.testing``:
long reasoning, LaTeX answers in many spellings, unanswered and unboxed samples), each with a label.

* ours: ``RewardStage.score_groups`` with the default config (math-verify in a grader process).
  Timed three ways: a cold start (grader processes spawned inside the timing), started graders with an
  empty cache on a fresh batch, and the steady state (further fresh batches, the cache warm).
* reference: per group, ``mathruler.grader.extract_boxed_content`` on every response,
  ``Counter.most_common`` over the raw strings, ``grade_answer(answer, majority)`` per response.

Then every reward that differs is attributed to a cause, and both rewards are compared to the truth.

    python tools/bench_reward.py [--prompts 512] [--group-size 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

from megatron_mmupt.reward.answer_extraction import extract_answer
from megatron_mmupt.reward.modes.reference import reference_vote
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.types import Rollout, RolloutGroup
from megatron_mmupt.testing.responses import generate_rows
from megatron_mmupt.utils.table import format_table


def make_groups(num_prompts: int, group_size: int, seed: int) -> list[RolloutGroup]:
    rows = list(generate_rows(num_prompts, group_size, seed=seed, min_steps=6, max_steps=30))
    by_prompt: dict[str, list] = collections.defaultdict(list)
    for row in rows:
        by_prompt[f"{seed}-{row.prompt_id}"].append(row)
    return [
        RolloutGroup(pid, tuple(Rollout(r.response) for r in rs), rs[0].answer, rs[0].choices)
        for pid, rs in by_prompt.items()
    ]


def time_reference(groups: list[RolloutGroup]) -> tuple[float, list[tuple[list[str], str, list[float]]]]:
    start = time.perf_counter()
    results = [reference_vote(g.responses) for g in groups]
    return time.perf_counter() - start, results


def time_ours(groups: list[RolloutGroup], stage: RewardStage):
    start = time.perf_counter()
    batch = stage.score_groups(groups)
    return time.perf_counter() - start, batch


def difference_causes(groups, batch, reference_results) -> collections.Counter[str]:
    """Attribute each sample whose reward differs between the two implementations to one cause."""
    causes: collections.Counter[str] = collections.Counter()
    for group, ours, (ref_answers, ref_majority, ref_rewards) in zip(groups, batch, reference_results, strict=True):
        for i, out in enumerate(ours.outputs):
            if out.reward == ref_rewards[i]:
                continue
            if ref_answers[i] == "None" and ref_majority == "None":
                causes["reference rewards an unanswered sample ('None' won the vote)"] += 1
            elif extract_answer(group.responses[i]).answer is None and ref_answers[i] != "None":
                causes["extraction: empty or degenerate box"] += 1
            elif ref_answers[i] == "None" and out.extracted is not None:
                causes["extraction: reference misses a nested/complete box"] += 1
            elif ref_majority == "None":
                causes["reference pseudo-label is 'None' (most samples unanswered)"] += 1
            elif (ours.score.pseudo_label is None) or not _same_class(ours, ref_majority):
                causes["different pseudo-label (raw-string vote split across spellings)"] += 1
            else:
                causes["same pseudo-label, equivalence differs (spelling, units, choices, fractions)"] += 1
    return causes


def _same_class(ours, ref_majority: str) -> bool:
    vote = ours.judgement.vote
    members = [o.extracted for o, c in zip(ours.outputs, vote.class_ids, strict=True) if c == vote.majority]
    return ref_majority in members


def truth_agreement(batch, reference_results) -> dict[str, tuple[float, float]]:
    """(ours, reference): pseudo-label accuracy, and agreement of rewards with correctness."""
    ours_label = statistics.mean(float(bool(g.score.pseudo_label_correct)) for g in batch)
    from mathruler.grader import grade_answer

    ref_label = statistics.mean(
        float(grade_answer(maj, g.judgement.group.answer))
        for g, (_, maj, _) in zip(batch, reference_results, strict=True)
    )
    ours_reward = statistics.mean(float((o.reward >= 0.5) == o.correct) for g in batch for o in g.outputs)
    ref_reward = statistics.mean(
        float((r >= 0.5) == o.correct)
        for g, (_, _, rewards) in zip(batch, reference_results, strict=True)
        for o, r in zip(g.outputs, rewards, strict=True)
    )
    return {
        "pseudo-label accuracy": (ours_label, ref_label),
        "reward agrees with correctness": (ours_reward, ref_reward),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--group-size", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="fresh batches timed in the steady state")
    args = parser.parse_args()

    batches = [make_groups(args.prompts, args.group_size, seed) for seed in range(args.repeats + 2)]
    chars = sum(len(t) for g in batches[0] for t in g.responses) / (args.prompts * args.group_size)
    print(f"{args.prompts} prompts x {args.group_size} responses per batch, {chars:.0f} characters per response\n")

    stage = RewardStage.Config().build()
    cold, batch = time_ours(batches[0], stage)  # includes spawning the grader processes
    distinct = {o.extracted for g in batch for o in g.outputs if o.extracted is not None}
    symbolic = stage.equivalence.judge.stats
    stage.close()
    stage = RewardStage.Config().build()
    stage.equivalence.judge.start()  # start the graders outside the timing
    warm_empty, _ = time_ours(batches[1], stage)
    steady = [time_ours(b, stage)[0] for b in batches[2:]]
    stage.close()
    reference = [time_reference(b)[0] for b in batches[2:]]
    ref_time0, ref_results = time_reference(batches[0])

    ours_steady, ref_steady = statistics.median(steady), statistics.median(reference)
    rows = [
        ("ours, cold start (graders spawned)", cold, cold / ref_time0),
        ("ours, graders started, empty cache", warm_empty, warm_empty / ref_steady),
        ("ours, steady state (median)", ours_steady, ours_steady / ref_steady),
        ("reference (median)", ref_steady, 1.0),
    ]
    print(format_table(("implementation", "seconds", "vs reference"), rows, title="time per batch"))
    print(
        f"first batch: {len(distinct)} distinct answers, {symbolic['analyze_calls']} sent to sympy for analysis, "
        f"{symbolic['equivalent_calls']} pairs sent to sympy for comparison"
    )

    causes = difference_causes(batches[0], batch, ref_results)
    total = args.prompts * args.group_size
    print()
    print(
        format_table(
            ("cause", "samples"),
            [*causes.most_common(), ("total rewards that differ", f"{sum(causes.values())} of {total}")],
            title="rewards that differ (first batch)",
        )
    )
    print()
    agreement = truth_agreement(batch, ref_results)
    print(format_table(("against the labels", "ours", "reference"), [(k, *v) for k, v in agreement.items()]))


if __name__ == "__main__":
    main()
