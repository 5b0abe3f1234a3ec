"""Scenes -> RGB images (PIL), and images -> PNG bytes.

Everything is drawn on a white square of ``image_size`` pixels (a multiple of 28, so that Qwen2.5-VL's
image processor keeps it as is: 112 -> 8 x 8 patches of 14 -> 4 x 4 = 16 merged tokens; 224 -> 64).
Text uses Pillow's embedded scalable font (``ImageFont.load_default(size=...)``, FreeType), so rendering
needs no font files and gives identical pixels wherever the same Pillow version runs.
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw, ImageFont

from megatron_mmupt.demo.task.scene import (
    GRID,
    LIGHT_RGB,
    MAX_DRAWN_NUMBER,
    RGB,
    Kind,
    NumberScene,
    Placement,
    Rectangle,
    RectangleScene,
    Scene,
    ShapeScene,
)

BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
DIGIT_FONT = 0.7
"""Font size of digits as a fraction of a cell: at 112 px a digit is about 12 x 14 pixels, inside its
14-pixel half-cell slot."""


def render(scene: Scene, image_size: int) -> Image.Image:
    """The scene as an ``image_size x image_size`` RGB image."""
    image = Image.new("RGB", (image_size, image_size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if isinstance(scene, ShapeScene):
        _draw_shapes(draw, scene, image_size)
    elif isinstance(scene, NumberScene):
        _draw_numbers(draw, scene, image_size)
    elif isinstance(scene, RectangleScene):
        _draw_rectangles(draw, scene, image_size)
    else:
        raise TypeError(f"cannot render {type(scene).__name__}")
    return image


def png_bytes(image: Image.Image) -> bytes:
    """Lossless, deterministic encoding (fixed compression level, no metadata)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def centre(at: Placement, image_size: int) -> tuple[float, float]:
    """Pixel coordinates ``(x, y)`` of an object's centre."""
    cell = image_size / GRID
    return ((at.col + 0.5 + at.dx) * cell, (at.row + 0.5 + at.dy) * cell)


def rectangle_box(rectangle: Rectangle, image_size: int) -> tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, x1, y1)`` of a drawn rectangle (inclusive), inset by 1/8 cell from the cell
    edges so that the outline stays clear of the label cells."""
    cell = image_size / GRID
    inset = cell / 8
    x0, y0 = rectangle.col * cell + inset, rectangle.row * cell + inset
    x1, y1 = (rectangle.col + rectangle.cols) * cell - inset, (rectangle.row + rectangle.rows) * cell - inset
    return round(x0), round(y0), round(x1), round(y1)


@functools.lru_cache(maxsize=16)
def _font(pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=pixels)


def _draw_shapes(draw: ImageDraw.ImageDraw, scene: ShapeScene, image_size: int) -> None:
    cell = image_size / GRID
    for shape in scene.shapes:
        x, y = centre(shape.at, image_size)
        r = shape.at.size * cell / 2
        colour = RGB[shape.colour]
        if shape.kind is Kind.CIRCLE:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        elif shape.kind is Kind.SQUARE:
            # A square of the same area as the circle would look smaller; 0.85 r keeps them alike in mass.
            s = 0.85 * r
            draw.rectangle((x - s, y - s, x + s, y + s), fill=colour)
        else:
            draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=colour)


def digit_slots(value: int, row: int, col: int, image_size: int) -> list[tuple[str, float, float]]:
    """``(digit, x, y)`` centres of the digits of ``value`` written in cell ``(row, col)``: units centred
    in the right half of the cell, tens in the left half, vertically centred."""
    if not 0 <= value <= MAX_DRAWN_NUMBER:
        raise ValueError(f"cannot draw {value}: numbers have at most two digits")
    cell = image_size / GRID
    digits = str(value)
    return [
        (digit, (col + 0.75 - 0.5 * (len(digits) - 1 - i)) * cell, (row + 0.5) * cell) for i, digit in enumerate(digits)
    ]


def _draw_number(draw: ImageDraw.ImageDraw, value: int, row: int, col: int, image_size: int) -> None:
    font = _font(max(8, round(DIGIT_FONT * image_size / GRID)))
    for digit, x, y in digit_slots(value, row, col, image_size):
        draw.text((x, y), digit, fill=INK, font=font, anchor="mm")


def _draw_numbers(draw: ImageDraw.ImageDraw, scene: NumberScene, image_size: int) -> None:
    for number in scene.numbers:
        _draw_number(draw, number.value, number.at.row, number.at.col, image_size)


def _draw_rectangles(draw: ImageDraw.ImageDraw, scene: RectangleScene, image_size: int) -> None:
    for rectangle in scene.rectangles:
        box = rectangle_box(rectangle, image_size)
        draw.rectangle(box, fill=LIGHT_RGB[rectangle.colour], outline=INK, width=max(1, image_size // 56))
        # Width under the bottom side, height left of the left side: where textbook figures put them.
        _draw_number(draw, rectangle.width, *rectangle.width_label_cell, image_size)
        _draw_number(draw, rectangle.height, *rectangle.height_label_cell, image_size)
