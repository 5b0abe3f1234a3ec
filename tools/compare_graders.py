"""Compare answer-equivalence graders on the labeled cases of ``megatron_mmupt.testing.equivalence_cases``.

* mathruler: ``mathruler.grader.grade_answer(a, b)`` (the MM-UPT reference grader, PRM800K rules + sympy);
* math-verify: ``verify(parse(a), parse(b))`` with its default extraction (HuggingFace Math-Verify);
* ours: ``Equivalence.cluster`` (normalization, exact numeric fast path, math-verify in grader processes).

Prints accuracy, the cases each grader gets wrong, and the time per case.

    python tools/compare_graders.py
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from megatron_mmupt.reward.equivalence import Equivalence, GroupAnswers
from megatron_mmupt.testing.equivalence_cases import CASES, Case
from megatron_mmupt.utils.table import format_table


def mathruler_grader() -> Callable[[Case], bool]:
    from mathruler.grader import grade_answer

    return lambda case: bool(grade_answer(case.a, case.b))


def math_verify_grader() -> Callable[[Case], bool]:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return lambda case: bool(verify(parse(f"${case.a}$"), parse(f"${case.b}$")))


def run(name: str, grade: Callable[[Case], bool]) -> tuple[str, int, float, list[Case]]:
    grade(CASES[0])  # warm-up: first calls build parsers
    wrong, start = [], time.perf_counter()
    for case in CASES:
        try:
            same = grade(case)
        except Exception:  # a grader crash counts as "different"
            same = False
        if same != case.same:
            wrong.append(case)
    return name, len(CASES) - len(wrong), (time.perf_counter() - start) / len(CASES), wrong


def run_ours() -> tuple[str, int, float, list[Case]]:
    equivalence = Equivalence.Config().build()
    equivalence.judge.start()
    start = time.perf_counter()
    classes = equivalence.cluster([GroupAnswers([c.a, c.b], c.choices) for c in CASES])
    elapsed = time.perf_counter() - start
    equivalence.close()
    wrong = [c for c, ids in zip(CASES, classes, strict=True) if (ids[0] == ids[1]) != c.same]
    return "ours (batched)", len(CASES) - len(wrong), elapsed / len(CASES), wrong


def main() -> None:
    results = [run("mathruler", mathruler_grader()), run("math-verify", math_verify_grader()), run_ours()]
    rows = [(name, f"{correct}/{len(CASES)}", f"{1e3 * per_case:.2f}") for name, correct, per_case, _ in results]
    print(format_table(("grader", "correct", "ms per case"), rows, title="answer equivalence on labeled cases"))
    for name, _, _, wrong in results:
        print(f"\n{name} is wrong on {len(wrong)}:")
        for case in wrong:
            verdict = "same" if case.same else "different"
            print(f"  {case.a!r} vs {case.b!r} should be {verdict} ({case.rule})")


if __name__ == "__main__":
    main()
