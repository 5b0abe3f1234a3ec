"""What a demo image shows, as plain data: the ground truth every answer is computed from.

Scenes are resolution-free. Objects sit in the cells of a ``GRID x GRID`` grid (4 x 4): at the default
112 x 112 image a cell is 28 x 28 pixels, exactly one merged Qwen2.5-VL vision token (patch 14, merge 2),
so a tiny vision tower can recognise each object within one token. Shapes are jittered and sized within
their cell (fractions of a cell; they never overlap). Numbers are not jittered: each digit has a fixed slot
(the left or right half of its cell, one 14-pixel patch column at 112 px, units on the right), so that a
digit always meets the patch grid the same way; a probe with jittered digits did not learn to read them
in minutes of CPU training. ``render.py`` turns a scene into pixels at any image size.
"""

from __future__ import annotations

import dataclasses
import enum
import random

GRID = 4
"""Cells per side. 16 cells: at most 16 objects per image."""

MAX_JITTER = 0.1
"""Largest offset of an object's centre from its cell's centre, as a fraction of the cell."""

SIZE_RANGE = (0.5, 0.8)
"""Object size (bounding box side) as a fraction of the cell; ``size / 2 + MAX_JITTER <= 0.5`` keeps it inside."""


class Colour(enum.StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Kind(enum.StrEnum):
    CIRCLE = "circle"
    SQUARE = "square"
    TRIANGLE = "triangle"

    @property
    def plural(self) -> str:
        return f"{self.value}s"


COLOURS: tuple[Colour, ...] = tuple(Colour)
KINDS: tuple[Kind, ...] = tuple(Kind)

RGB: dict[Colour, tuple[int, int, int]] = {
    Colour.RED: (220, 50, 47),
    Colour.GREEN: (40, 160, 60),
    Colour.BLUE: (31, 100, 210),
}
"""Saturated, well separated fill colours: colour is read from one token's pixels."""

LIGHT_RGB: dict[Colour, tuple[int, int, int]] = {
    Colour.RED: (245, 165, 155),
    Colour.GREEN: (160, 225, 165),
    Colour.BLUE: (160, 185, 245),
}
"""Rectangle fills: light enough for black outlines and labels to stand out, still clearly one colour."""


@dataclasses.dataclass(frozen=True, slots=True)
class Placement:
    """Where an object sits: its grid cell, the offset of its centre and its size (fractions of a cell)."""

    row: int
    col: int
    dx: float = 0.0
    dy: float = 0.0
    size: float = 0.7

    def __post_init__(self) -> None:
        if not (0 <= self.row < GRID and 0 <= self.col < GRID):
            raise ValueError(f"cell ({self.row}, {self.col}) is outside the {GRID}x{GRID} grid")
        if max(abs(self.dx), abs(self.dy)) > MAX_JITTER or not SIZE_RANGE[0] <= self.size <= SIZE_RANGE[1]:
            raise ValueError(f"placement {self} leaves its cell")

    @property
    def reading_order(self) -> tuple[int, int]:
        """Top to bottom, then left to right: the order a solution names objects in."""
        return (self.row, self.col)


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    kind: Kind
    colour: Colour
    at: Placement


@dataclasses.dataclass(frozen=True, slots=True)
class ShapeScene:
    """Coloured shapes, one per cell."""

    shapes: tuple[Shape, ...]

    def count(self, colour: Colour | None = None, kind: Kind | None = None) -> int:
        """Shapes of ``colour`` (any when ``None``) and ``kind`` (any when ``None``)."""
        return sum((colour is None or s.colour is colour) and (kind is None or s.kind is kind) for s in self.shapes)


@dataclasses.dataclass(frozen=True, slots=True)
class DrawnNumber:
    value: int
    at: Placement


MAX_DRAWN_NUMBER = 99
"""Numbers have at most two digits: one per half cell."""


@dataclasses.dataclass(frozen=True, slots=True)
class NumberScene:
    """Numbers from 0 to ``MAX_DRAWN_NUMBER`` written in black, one per cell, never in side-by-side cells
    (``12`` next to ``34`` would read as ``1234``)."""

    numbers: tuple[DrawnNumber, ...]

    @property
    def values(self) -> tuple[int, ...]:
        """The numbers in reading order."""
        return tuple(n.value for n in sorted(self.numbers, key=lambda n: n.at.reading_order))


@dataclasses.dataclass(frozen=True, slots=True)
class Rectangle:
    """A filled rectangle covering whole cells, its width written in the cell under the middle of its bottom
    side and its height in the cell left of the middle of its left side (only the labels carry the numbers).

    ``row``/``col`` is its top-left cell and ``rows x cols`` its size in cells.
    """

    width: int
    height: int
    colour: Colour
    row: int
    col: int
    rows: int = 1
    cols: int = 1

    def __post_init__(self) -> None:
        if max(self.width, self.height) > MAX_DRAWN_NUMBER or min(self.width, self.height) < 0:
            raise ValueError(f"sides {self.width} x {self.height} must lie in [0, {MAX_DRAWN_NUMBER}]")
        if self.col < 1 or self.row < 0 or self.col + self.cols > GRID or self.row + self.rows + 1 > GRID:
            raise ValueError(f"{self} leaves no cell for its labels inside the grid")

    @property
    def width_label_cell(self) -> tuple[int, int]:
        return (self.row + self.rows, self.col + (self.cols - 1) // 2)

    @property
    def height_label_cell(self) -> tuple[int, int]:
        return (self.row + (self.rows - 1) // 2, self.col - 1)


@dataclasses.dataclass(frozen=True, slots=True)
class RectangleScene:
    """One labelled rectangle (1 to 3 cells a side, proportional to its labels), or several of one cell
    each in distinct 2 x 2 quadrants with distinct colours. Labels sit beside their own rectangle only
    (below it, left of it): a label above or right of a rectangle belongs to another one."""

    rectangles: tuple[Rectangle, ...]

    def __post_init__(self) -> None:
        colours = [r.colour for r in self.rectangles]
        if not colours or len(set(colours)) != len(colours):
            raise ValueError(f"rectangles need distinct colours, got {colours}")

    def find(self, colour: Colour) -> Rectangle:
        return next(r for r in self.rectangles if r.colour is colour)


Scene = ShapeScene | NumberScene | RectangleScene


def free_cells(rng: random.Random, count: int) -> list[tuple[int, int]]:
    """``count`` distinct cells, in random order."""
    if not 0 < count <= GRID * GRID:
        raise ValueError(f"cannot place {count} objects in a {GRID}x{GRID} grid")
    cells = rng.sample(range(GRID * GRID), count)
    return [divmod(cell, GRID) for cell in cells]


def random_placement(rng: random.Random, cell: tuple[int, int]) -> Placement:
    return Placement(
        row=cell[0],
        col=cell[1],
        dx=rng.uniform(-MAX_JITTER, MAX_JITTER),
        dy=rng.uniform(-MAX_JITTER, MAX_JITTER),
        size=rng.uniform(*SIZE_RANGE),
    )


def shape_scene(rng: random.Random, attributes: list[tuple[Colour, Kind]]) -> ShapeScene:
    """Place one shape per ``(colour, kind)`` entry in distinct random cells."""
    cells = free_cells(rng, len(attributes))
    return ShapeScene(
        tuple(
            Shape(kind, colour, random_placement(rng, cell))
            for (colour, kind), cell in zip(attributes, cells, strict=True)
        )
    )


def number_scene(rng: random.Random, values: list[int]) -> NumberScene:
    if any(not 0 <= v <= MAX_DRAWN_NUMBER for v in values):
        raise ValueError(f"drawn numbers must lie in [0, {MAX_DRAWN_NUMBER}], got {values}")
    while True:  # rejection sampling: a few draws at most for two numbers
        cells = free_cells(rng, len(values))
        if not any(a[0] == b[0] and abs(a[1] - b[1]) == 1 for a in cells for b in cells):
            break
    return NumberScene(tuple(DrawnNumber(v, Placement(row=r, col=c)) for v, (r, c) in zip(values, cells, strict=True)))


def rectangle_scene(rng: random.Random, sides: list[tuple[int, int]]) -> RectangleScene:
    """Rectangles with ``(width, height)`` labels at random places, in distinct random colours."""
    colours = rng.sample(COLOURS, len(sides))
    if len(sides) == 1:
        (width, height), longest = sides[0], max(*sides[0], 1)
        cols, rows = (min(3, max(1, round(3 * side / longest))) for side in (width, height))
        row, col = rng.randint(0, GRID - 1 - rows), rng.randint(1, GRID - cols)
        return RectangleScene((Rectangle(width, height, colours[0], row, col, rows, cols),))
    # One cell each, at the top right of a 2 x 2 quadrant: height label at its left, width label below.
    quadrants = rng.sample([(0, 0), (0, 2), (2, 0), (2, 2)], len(sides))
    return RectangleScene(
        tuple(
            Rectangle(w, h, colour, row, col + 1)
            for (w, h), colour, (row, col) in zip(sides, colours, quadrants, strict=True)
        )
    )
