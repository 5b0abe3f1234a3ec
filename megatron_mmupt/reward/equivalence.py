"""Answer equivalence classes for a batch of groups.

``Equivalence.cluster`` turns the extracted answers of each group into equivalence-class ids, in
three batched steps so that the symbolic grader is called at most twice per reward batch:

1. normalize and parse every distinct answer (``normalize``, ``answer_forms``): numbers, choices,
   intervals, sets and words are decided here, exactly and in microseconds;
2. send the remaining expressions to the symbolic judge once (``analyze``): constants become numbers,
   other expressions get a canonical key; then map option texts to their letters;
3. cluster each group greedily in sampling order: an answer joins the first class whose first
   member it equals; pairs of non-constant expressions are decided by one batched ``equivalent`` call.

Greedy clustering against each class's first member is deterministic and order-stable; it differs
from a transitive closure only when tolerance or the grader is not transitive (``a~b``, ``b~c``, ``a!~c``),
where closure would chain unrelated answers together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from megatron_mmupt.config.configurable import ConfigError, Configurable, check_choice, check_range
from megatron_mmupt.reward.answer_forms import (
    AnswerForm,
    FormKind,
    forms_equal,
    interval_form,
    number_form,
    parse_form,
    tuple_form,
)
from megatron_mmupt.reward.choices import LETTERS, letters_for
from megatron_mmupt.reward.latex_numeric import Number
from megatron_mmupt.reward.normalize import DEFAULT_UNITS, normalize_answer
from megatron_mmupt.reward.symbolic_judge import SymbolicJudge


@dataclasses.dataclass(frozen=True, slots=True)
class GroupAnswers:
    """The answers of one group (``None``: no answer) and the question's option texts, if any."""

    answers: Sequence[str | None]
    choices: tuple[str, ...] = ()


class Equivalence(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        percent: Literal["strip", "ratio"] = "strip"
        """``strip``: ``50%`` == ``50`` (the reference grader); ``ratio``: ``50%`` == ``0.5``."""
        rel_tol: float = 1e-3
        """Relative tolerance between numbers when one of them is irrational (``0.866`` vs ``\\sqrt{3}/2``)."""
        units: tuple[str, ...] = DEFAULT_UNITS
        """Unit words dropped after a number (``5 cm`` == ``5``); empty to keep units."""
        choice_letters: str = "ABCDE"
        """Letters read as options when a question lists no choices (with choices: one letter per choice)."""
        symbolic: SymbolicJudge.Config = dataclasses.field(default_factory=SymbolicJudge.Config)

        def __post_init__(self) -> None:
            check_choice("percent", self.percent, ("strip", "ratio"))
            check_range("rel_tol", self.rel_tol, 0.0, 0.1)
            if not self.choice_letters or any(c not in LETTERS for c in self.choice_letters):
                raise ConfigError(f"choice_letters={self.choice_letters!r} must be a non-empty subset of {LETTERS!r}")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.judge: SymbolicJudge = config.symbolic.build()

    def cluster(self, groups: Sequence[GroupAnswers]) -> list[list[int | None]]:
        """Class id per answer (``None`` for no answer), ids numbered in order of first appearance."""
        forms = [self._forms(g) for g in groups]
        self._resolve_expressions(forms)
        for group, group_forms in zip(groups, forms, strict=True):
            if group.choices:
                self._map_option_texts(group_forms, group.choices)
        undecided = {pair for group_forms in forms for pair in self._undecided_pairs(group_forms)}
        verdicts = self.judge.equivalent(sorted(undecided))
        return [self._greedy_clusters(group_forms, verdicts) for group_forms in forms]

    def close(self) -> None:
        self.judge.close()

    # --- steps ------------------------------------------------------------------------------------

    def _forms(self, group: GroupAnswers) -> list[AnswerForm | None]:
        letters = letters_for(group.choices, self.config.choice_letters)
        parsed: dict[str, AnswerForm] = {}  # samples of a group often repeat an answer verbatim
        for answer in group.answers:
            if answer is not None and answer not in parsed:
                parsed[answer] = self.parse(answer, letters)
        return [None if answer is None else parsed[answer] for answer in group.answers]

    def parse(self, answer: str, letters: str = "ABCDE") -> AnswerForm:
        """Normalize and parse one answer (without the symbolic step)."""
        text = normalize_answer(answer, units=self.config.units, strip_percent=self.config.percent == "strip")
        return parse_form(text, letters)

    def _resolve_expressions(self, forms: list[list[AnswerForm | None]]) -> None:
        # One analysis per expression key: `x>3` and `x > 3` share a key and a sympy parse.
        representative = {f.key: f.text for group in forms for f in group if f is not None and f.kind is FormKind.EXPR}
        analyses = self.judge.analyze(sorted(representative.values()))
        for group in forms:
            for i, form in enumerate(group):
                if form is not None and form.kind is FormKind.EXPR:
                    group[i] = _apply_analysis(form, analyses[representative[form.key]])

    def _map_option_texts(self, forms: list[AnswerForm | None], choices: tuple[str, ...]) -> None:
        # An answer that equals exactly one option's text is that option ("12" -> "B" when B is "12").
        letters = letters_for(choices, self.config.choice_letters)
        options = [self.parse(text, letters="") for text in choices]
        for i, form in enumerate(forms):
            if form is None or form.kind is FormKind.CHOICE:
                continue
            hits = [j for j, option in enumerate(options) if forms_equal(form, option, self.config.rel_tol)]
            if len(hits) == 1:
                letter = letters[hits[0]]
                forms[i] = AnswerForm(FormKind.CHOICE, (FormKind.CHOICE, letter), form.text)

    @staticmethod
    def _distinct(forms: list[AnswerForm | None]) -> list[AnswerForm]:
        first_of_key: dict[object, AnswerForm] = {}
        for form in forms:
            if form is not None:
                first_of_key.setdefault(form.key, form)
        return list(first_of_key.values())

    def _undecided_pairs(self, forms: list[AnswerForm | None]) -> list[tuple[str, str]]:
        distinct = self._distinct(forms)
        return [
            _pair(a, b)
            for i, a in enumerate(distinct)
            for b in distinct[i + 1 :]
            if forms_equal(a, b, self.config.rel_tol) is None
        ]

    def _greedy_clusters(
        self, forms: list[AnswerForm | None], verdicts: dict[tuple[str, str], bool]
    ) -> list[int | None]:
        representatives: list[AnswerForm] = []
        ids: list[int | None] = []
        for form in forms:
            if form is None:
                ids.append(None)
                continue
            for index, rep in enumerate(representatives):
                same = forms_equal(form, rep, self.config.rel_tol)
                if same or (same is None and verdicts.get(_pair(form, rep), False)):
                    ids.append(index)
                    break
            else:
                representatives.append(form)
                ids.append(len(representatives) - 1)
        return ids


def _pair(a: AnswerForm, b: AnswerForm) -> tuple[str, str]:
    return (a.text, b.text) if a.text <= b.text else (b.text, a.text)


def _number(kind: str, value: object) -> Number | None:
    if kind == "rational":
        numerator, denominator = value  # type: ignore[misc]
        return Number.of(Fraction(numerator, denominator))
    if kind == "real":
        return Number(float(value), None)  # type: ignore[arg-type]
    return None


def _apply_analysis(form: AnswerForm, analysis: tuple[str, object]) -> AnswerForm:
    """Rebuild an ``EXPR`` form from the symbolic judge's analysis (see ``symbolic.analyze``)."""
    kind, value = analysis
    number = _number(kind, value)
    if number is not None:
        return number_form(number, form.text)
    if kind == "interval":
        low, high, brackets = value  # type: ignore[misc]
        return interval_form((_number(*low), _number(*high)), brackets, form.text)
    if kind == "matrix":
        rows, cols, entries = value  # type: ignore[misc]
        return tuple_form(tuple(_number(*e) for e in entries), f"matrix {rows}x{cols}", form.text)
    if kind == "expr":
        return AnswerForm(FormKind.EXPR, (FormKind.EXPR, value), form.text)
    return form
