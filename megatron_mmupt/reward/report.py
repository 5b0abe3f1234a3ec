"""The console summary of a reward batch (what ``megatron-mmupt score`` prints)."""

from __future__ import annotations

from megatron_mmupt.reward.diagnostics import RewardBatch
from megatron_mmupt.utils.table import format_table


def format_summary(batch: RewardBatch, mode: str) -> str:
    m = batch.metrics()
    num_samples = sum(len(g.outputs) for g in batch)
    sizes = sorted({len(g.outputs) for g in batch})
    group_size = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
    rows: list[tuple[str, object]] = [
        ("reward (mean)", m["reward/mean"]),
        ("answer rate", m["vote/answer_rate"]),
        ("majority share of G (equivalence vote)", m["vote/majority_ratio"]),
        ("equivalence classes per group", m["vote/distinct_answers"]),
        ("skipped groups", int(m["vote/skipped_groups"])),
        ("  no answer at all", int(m["vote/skipped_no_answer"])),
        ("  tie (tie_break=skip)", int(m["vote/skipped_tie"])),
        ("  below min_vote_share", int(m["vote/skipped_low_share"])),
        ("symbolic timeouts", int(m["symbolic/timeouts"])),
    ]
    if "label/groups" in m:
        rows += [
            ("labeled groups (diagnostics only)", int(m["label/groups"])),
            ("pseudo-label accuracy", m["label/label_accuracy"]),
            ("reward accuracy (scored groups)", m["label/reward_accuracy"]),
            ("pass@1", m["label/pass_at_1"]),
            (f"maj@{group_size}", m["label/maj_at_k"]),
        ]
    title = f"reward mode {mode!r}: {len(batch)} prompts, {num_samples} responses (G = {group_size})"
    return format_table(("metric", "value"), rows, title=title)
