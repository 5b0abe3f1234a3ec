"""Rendering: the image shows the scene, at the configured size, with identical bytes every time."""

import io

import pytest
from PIL import Image

from megatron_mmupt.demo.task import DemoTask
from megatron_mmupt.demo.task.render import centre, digit_slots, png_bytes, rectangle_box, render
from megatron_mmupt.demo.task.scene import LIGHT_RGB, RGB, NumberScene, RectangleScene, ShapeScene


@pytest.mark.parametrize("image_size", [112, 224])
def test_rows_decode_to_images_of_the_configured_size(image_size):
    task = DemoTask.Config(image_size=image_size).build()
    for row in task.rows(seed=0, split="train", num=18):
        image = Image.open(io.BytesIO(row["images"][0]["bytes"]))
        assert image.format == "PNG" and image.mode == "RGB" and image.size == (image_size, image_size)


def test_png_bytes_are_deterministic(task):
    problem = task.problem(0, "train", 7)
    assert png_bytes(render(problem.scene, 112)) == png_bytes(render(problem.scene, 112))


def test_each_shape_is_drawn_in_its_colour_at_its_centre(task):
    scenes = [p.scene for p in task.problems(1, "train", 90) if isinstance(p.scene, ShapeScene)]
    assert len(scenes) >= 20
    for scene in scenes:
        image = render(scene, 112)
        cells = {(s.at.row, s.at.col) for s in scene.shapes}
        assert len(cells) == len(scene.shapes), "two shapes share a cell"
        for shape in scene.shapes:
            x, y = centre(shape.at, 112)
            assert image.getpixel((int(x), int(y))) == RGB[shape.colour], shape


def dark(image, x, y, radius):
    """Whether the square of ``radius`` around ``(x, y)`` holds a dark (ink) pixel."""
    window = image.convert("L").crop((int(x) - radius, int(y) - radius, int(x) + radius, int(y) + radius))
    return window.getextrema()[0] < 64


def test_every_digit_is_drawn_in_its_slot(task):
    problems = list(task.problems(2, "train", 90))
    scenes = [p.scene for p in problems if isinstance(p.scene, NumberScene)]
    assert len(scenes) >= 10
    for scene in scenes:
        image = render(scene, 112)
        for number in scene.numbers:
            slots = digit_slots(number.value, number.at.row, number.at.col, 112)
            assert "".join(d for d, _, _ in slots) == str(number.value)
            assert all(dark(image, x, y, 4) for _, x, y in slots), number
            if number.value < 10:  # the empty tens slot stays blank
                assert not dark(image, slots[0][1] - 14, slots[0][2], 4)
        rows = [(n.at.row, n.at.col) for n in scene.numbers]
        assert not any(r == r2 and abs(c - c2) == 1 for r, c in rows for r2, c2 in rows), "side-by-side numbers"


def test_rectangles_are_filled_outlined_and_labelled_outside(task):
    scenes = [p.scene for p in task.problems(2, "train", 180) if isinstance(p.scene, RectangleScene)]
    assert {len(s.rectangles) for s in scenes} == {1, 2, 3}
    for scene in scenes:
        image = render(scene, 112)
        used = {}
        for rectangle in scene.rectangles:
            x0, y0, x1, y1 = rectangle_box(rectangle, 112)
            assert 0 <= x0 < x1 < 112 and 0 <= y0 < y1 < 112
            assert image.getpixel((x0, (y0 + y1) // 2)) == (0, 0, 0)  # the outline
            assert image.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == LIGHT_RGB[rectangle.colour]
            (wr, wc), (hr, hc) = rectangle.width_label_cell, rectangle.height_label_cell
            assert wr * 28 > y1 and (hc + 1) * 28 <= x0, "labels must lie below and left of their rectangle"
            for value, (row, col) in ((rectangle.width, (wr, wc)), (rectangle.height, (hr, hc))):
                assert all(dark(image, x, y, 4) for _, x, y in digit_slots(value, row, col, 112))
            rows = range(rectangle.row, rectangle.row + rectangle.rows)
            cells = [(r, c) for r in rows for c in range(rectangle.col, rectangle.col + rectangle.cols)]
            for cell in [*cells, (wr, wc), (hr, hc)]:
                assert used.setdefault(cell, rectangle) is rectangle, f"two rectangles use cell {cell}"


def test_unknown_scenes_are_refused():
    with pytest.raises(TypeError, match="cannot render"):
        render(object(), 112)
