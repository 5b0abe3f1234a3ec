"""``reference``: the MM-UPT reference implementation's exact reward, to measure what ours changes.

What it does (``waltonfuture/MM-UPT: verl/workers/reward/function.py``): extract each response with
``mathruler.grader.extract_boxed_content`` (the literal string "None" when there is no complete box),
take ``collections.Counter(answers).most_common(1)`` over the raw strings (ties: first seen; "None" can
win), and reward ``mathruler.grader.grade_answer(answer, majority)`` as 1/0. It never skips a group and
has no time limit around sympy. Needs the optional ``mathruler`` package (``pip install mathruler pylatexenc``).
"""

from __future__ import annotations

import collections

from megatron_mmupt.reward.majority_vote import GroupStatus
from megatron_mmupt.reward.modes.registry import REWARD_MODES
from megatron_mmupt.reward.types import GroupJudgement, ModeScore


def _grader():
    try:
        from mathruler.grader import extract_boxed_content, grade_answer
    except ImportError as e:
        raise ImportError(
            f"reward mode 'reference' needs the mathruler grader ({e}); install it with "
            "`pip install mathruler pylatexenc tqdm` or choose reward.mode=majority"
        ) from None
    return extract_boxed_content, grade_answer


def reference_vote(responses: list[str]) -> tuple[list[str], str, list[float]]:
    """The reference code path on one group: ``(answers, majority, rewards)``."""
    extract, grade = _grader()
    answers = [extract(text) for text in responses]
    majority = collections.Counter(answers).most_common(1)[0][0]
    return answers, majority, [1.0 if grade(a, majority) else 0.0 for a in answers]


@REWARD_MODES.register("reference")
def reference(judgement: GroupJudgement) -> ModeScore:
    answers, majority, rewards = reference_vote(judgement.group.responses)
    label = judgement.group.answer
    return ModeScore(
        rewards=tuple(rewards),
        answers=tuple(answers),
        pseudo_label=majority,
        status=GroupStatus.SCORED,
        pseudo_label_correct=None if label is None else bool(_grader()[1](majority, label)),
    )
