"""We-Math's own metrics: step levels and the four-dimensional diagnosis of multi-step problems.

We-Math (Qiao et al., arXiv 2407.01284) splits each multi-step problem into one-step sub-questions (keys
``2steps_1``, ``2steps_2``; ``3steps_1`` .. ``3steps_3``) beside the composite question (``2steps_multi``,
``3steps_multi``), all sharing the problem's ``ID``. Its ``evaluation/accuracy.py`` reports S1 (accuracy
on the one-step sub-questions), S2 and S3 (on the two- and three-step composites); its
``evaluation/four_dimensional_metrics.py`` classifies each problem by its sub-questions (``subs``) and
composite (``multi``):

| class | condition | note |
|---|---|---|
| IK, insufficient knowledge | some sub wrong, multi wrong | |
| IG, inadequate generalization | all subs right, multi wrong | |
| CM, complete mastery | strict: all subs right, multi right; loose: some sub right, multi right | |
| RM, rote memorization | strict: some sub wrong, multi right; loose: all subs wrong, multi right | rate over CM + RM |

and scores ``(N - 0.5 IG - RM - IK) / N`` over the ``N`` problems (strict and loose). Here a question is
"right" by its maj@n answer, and N counts the problems whose sub-questions and composite were all evaluated
(the official script fixes N = 525, the testmini count; a partial run has fewer). IK, IG and CM are
fractions of N.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from megatron_mmupt.evaluation.metrics import majority_correct
from megatron_mmupt.evaluation.results import ItemResult

STEP_LEVELS = {1: "S1 one-step", 2: "S2 two-step", 3: "S3 three-step"}


def step_level(metadata: Mapping[str, Any]) -> Sequence[str]:
    """S1 for a sub-question, S2 / S3 for a two- / three-step composite (the ``we_math`` preset's fields)."""
    step, num_steps = metadata.get("step"), metadata.get("num_steps")
    if step is None or num_steps is None:
        return []
    return [STEP_LEVELS[num_steps if step == "multi" else 1]] if num_steps in STEP_LEVELS else []


def four_dimensional(items: Sequence[ItemResult]) -> dict[str, float]:
    """IK, IG, CM, RM and the score, strict and loose, on the maj@n answers (see the module docstring)."""
    problems = _problems(items)
    if not problems:
        return {}
    counts = dict.fromkeys(("IK", "IG", "CM_strict", "CM_loose", "RM_strict", "RM_loose"), 0)
    for subs, multi in problems:
        all_right, some_right = all(subs), any(subs)
        if multi:
            counts["CM_strict"] += all_right
            counts["CM_loose"] += some_right
            counts["RM_strict"] += not all_right
            counts["RM_loose"] += not some_right
        else:
            counts["IG"] += all_right
            counts["IK"] += not all_right
    total = len(problems)
    metrics = {"problems": float(total)}
    metrics |= {name: counts[name] / total for name in ("IK", "IG", "CM_strict", "CM_loose")}
    for mode in ("strict", "loose"):
        cm, rm = counts[f"CM_{mode}"], counts[f"RM_{mode}"]
        metrics[f"RM_{mode}"] = rm / (cm + rm) if cm + rm else 0.0
        metrics[f"score_{mode}"] = (total - 0.5 * counts["IG"] - rm - counts["IK"]) / total
    return metrics


def _problems(items: Sequence[ItemResult]) -> list[tuple[list[bool], bool]]:
    """``(sub-question verdicts, composite verdict)`` of every problem with all of its parts evaluated."""
    # Keyed by (steps, ID): the official scripts join two-step and three-step problems separately on ``ID``.
    parts: dict[tuple[int, str], dict[Any, bool]] = {}
    for item in items:
        problem, step, num_steps = (item.metadata.get(k) for k in ("we_math_id", "step", "num_steps"))
        if problem is not None and step is not None and num_steps is not None:
            parts.setdefault((num_steps, problem), {})[step] = majority_correct(item)
    complete = []
    for (num_steps, _), verdicts in parts.items():
        wanted = [*range(1, num_steps + 1), "multi"]
        if all(part in verdicts for part in wanted):
            complete.append(([verdicts[i] for i in wanted[:-1]], verdicts["multi"]))
    return complete
