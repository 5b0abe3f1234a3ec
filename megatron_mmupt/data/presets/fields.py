"""Reading the cells of one row for a preset, where every failure is a ``BadRow`` that says what to fix.

``RowReader`` finds a column (the user's override for its role, else the first of the preset's names the
row has), checks the value's type and turns it into our schema's type. Its messages name the column,
what the preset reads, and the override key, e.g.::

    row 12: missing_column: column 'problem' missing; the geometry3k preset reads problem, images,
    answer; pass data.source.columns.question=<your column> (the row has: prompt, image, label)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from megatron_mmupt.data.presets.image_refs import ImageValueError, image_refs
from megatron_mmupt.data.presets.registry import ROLES, PresetContext
from megatron_mmupt.data.types import BadRow, BadRowReason, ImageRef

MAX_CHOICES = 10
"""Options are lettered A-J downstream (``reward.choices.LETTERS``)."""


class RowReader:
    """The cells of row ``index`` as preset ``preset`` reads them (``reads`` lists its columns for messages)."""

    def __init__(self, row: Mapping[str, Any], index: int, ctx: PresetContext, *, preset: str, reads: str) -> None:
        self.row, self.index, self.ctx, self.preset, self.reads = row, index, ctx, preset, reads
        self.label = str(index)  # replaced by the row's id once known

    def bad(self, reason: BadRowReason, detail: str) -> BadRow:
        return BadRow(reason, self.label, detail)

    def bad_value(self, column: str, detail: str) -> BadRow:
        return self.bad(BadRowReason.BAD_VALUE, f"column {column!r}: {detail}")

    def require(self, role: str | None, names: tuple[str, ...]) -> tuple[str, Any]:
        """``(column, value)`` of a column the preset cannot do without; ``MISSING_COLUMN`` when absent.

        The column is the user's override for ``role`` when set, else the first of ``names`` the row has.
        """
        override = self.ctx.columns.get(role) if role is not None else None
        for name in (override,) if override else names:
            if name in self.row:
                return name, self.row[name]
        have = f" (the row has: {', '.join(map(str, self.row))})"
        if override:
            key = f"{self.ctx.config_key}.columns.{role}"
            raise self.bad(BadRowReason.MISSING_COLUMN, f"column {override!r} (from {key}) missing{have}")
        wanted = " or ".join(repr(n) for n in names)
        fix = (
            f"pass {self.ctx.config_key}.columns.{role}=<your column>"
            if role in ROLES
            else "this column cannot be renamed; convert the data or use the generic preset"
        )
        detail = f"column {wanted} missing; the {self.preset} preset reads {self.reads}; {fix}{have}"
        raise self.bad(BadRowReason.MISSING_COLUMN, detail)

    def optional(self, role: str | None, names: tuple[str, ...]) -> tuple[str | None, Any]:
        """``(column, value)``, or ``(None, None)`` when the row has none of ``names``.

        An override is never optional: naming a column the row lacks is an error, not "absent".
        """
        if role is not None and role in self.ctx.columns:
            return self.require(role, names)
        name = next((n for n in names if n in self.row), None)
        return (name, self.row[name]) if name is not None else (None, None)

    # --- typed readers ----------------------------------------------------------------------------------

    def identify(self, names: tuple[str, ...]) -> str:
        """The row's id (its id column, else ``<source>-<index>``); later errors name the row by it."""
        name, value = self.optional("id", names)
        if name is None:
            self.label = f"{self.ctx.source}-{self.index}"
            return self.label
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise self.bad_value(name, f"the id must be a non-empty string or integer, got {value!r}")
        self.label = str(value).strip()
        return self.label

    def question(self, names: tuple[str, ...]) -> str:
        name, value = self.require("question", names)
        if value is not None and not isinstance(value, str):
            raise self.bad_value(name, f"the question must be text, got {type(value).__name__}")
        if value is None or not value.strip():
            raise self.bad(BadRowReason.EMPTY_QUESTION, f"column {name!r} is empty")
        return value

    def images(self, names: tuple[str, ...], *, required: bool = False) -> tuple[ImageRef, ...]:
        """The row's images in order (a null cell: none); relative paths resolved against ``base_dir``.

        ``required``: a row without any image is a ``BAD_VALUE`` (benchmarks whose questions need the figure).
        """
        name, value = self.require("images", names)
        try:
            images = image_refs(value, self.ctx.base_dir, f"{self.ctx.config_key}.image_root")
        except ImageValueError as e:
            reason = BadRowReason.BAD_IMAGE if e.missing_file else BadRowReason.BAD_VALUE
            raise self.bad(reason, f"column {name!r}: {e}") from None
        if required and not images:
            raise self.bad_value(name, f"the row has no image ({' and '.join(names)} empty)")
        return images

    def answer(self, names: tuple[str, ...]) -> str | None:
        """The label as text (diagnostics only), ``None`` when absent or blank."""
        name, value = self.optional("answer", names)
        return None if name is None else self.text(name, value)

    def text(self, name: str, value: Any) -> str | None:
        """A scalar cell as stripped text; ``None`` for null, blank or NaN."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.bad_value(name, f"expected text or a number, got {type(value).__name__} {value!r}")
        return str(value).strip() or None

    def choices(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Option texts in letter order from a list column; ``()`` when absent or null."""
        name, value = self.optional("choices", names)
        if name is None or value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise self.bad_value(name, f"expected a list of option texts, got {type(value).__name__} {value!r}")
        texts = []
        for option in value:
            if isinstance(option, bool) or not isinstance(option, (str, int, float)):
                raise self.bad_value(name, f"option {option!r} is not text")
            texts.append(str(option).strip())
        return self.check_choices(name, tuple(texts))

    def check_choices(self, name: str, choices: tuple[str, ...]) -> tuple[str, ...]:
        if len(choices) > MAX_CHOICES:
            raise self.bad_value(name, f"{len(choices)} options; at most {MAX_CHOICES} (A-J) are supported")
        return choices
