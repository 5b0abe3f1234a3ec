import io

import pytest
from PIL import Image

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.data.images import MAX_DECODED_PIXELS, ImageConfig, decode_image
from megatron_mmupt.data.types import BadRow, BadRowReason


def png(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


RED = Image.new("RGB", (30, 20), (255, 0, 0))


@pytest.mark.parametrize("kind", ["bytes", "path", "pil", "struct_bytes", "struct_path", "bytearray"])
def test_every_reference_kind_decodes_to_rgb(tmp_path, kind):
    data = png(RED)
    path = tmp_path / "red.png"
    path.write_bytes(data)
    ref = {
        "bytes": data,
        "path": str(path),
        "pil": RED,
        "struct_bytes": {"bytes": data, "path": None},
        "struct_path": {"bytes": None, "path": str(path)},
        "bytearray": bytearray(data),
    }[kind]
    image = decode_image(ref, row="r1")
    assert image.mode == "RGB" and image.size == (30, 20) and image.getpixel((0, 0)) == (255, 0, 0)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = png(Image.new("RGB", (40, 10), "white"), format="JPEG", exif=exif.tobytes())
    assert decode_image(data, "r").size == (10, 40)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16"])
def test_other_modes_become_rgb(mode):
    image = Image.new(mode, (8, 8))
    assert decode_image(image, "r").mode == "RGB"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (b"not an image", "cannot read image <12 bytes>"),
        ({"bytes": None, "path": None}, "neither bytes nor path"),
        ("/no/such/file.png", "'/no/such/file.png'"),
        (12345, "unsupported image value of type int"),
    ],
)
def test_unreadable_images_are_bad_rows_naming_the_row(ref, message):
    with pytest.raises(BadRow) as info:
        decode_image(ref, row="row-7")
    assert info.value.reason is BadRowReason.BAD_IMAGE and info.value.row == "row-7"
    assert message in str(info.value)


def test_truncated_file_is_a_bad_row():
    data = png(Image.new("RGB", (64, 64), "blue"))
    with pytest.raises(BadRow, match="cannot read image"):
        decode_image(data[: len(data) // 2], row="r")


def test_decompression_bombs_are_refused():
    side = int(MAX_DECODED_PIXELS**0.5) + 10
    bomb = png(Image.new("1", (side, side)))  # a tiny 1-bit PNG claiming ~64M pixels
    assert len(bomb) < 1_000_000
    with pytest.raises(BadRow, match="pixels is over"):
        decode_image(bomb, row="r")


def test_image_config_bounds():
    own = {"shortest_edge": 3136, "longest_edge": 12544}
    assert ImageConfig().processor_size(own) == own
    assert ImageConfig(max_pixels=50176).processor_size(own) == {"shortest_edge": 3136, "longest_edge": 50176}
    with pytest.raises(ConfigError, match="max_pixels"):
        ImageConfig(min_pixels=100, max_pixels=10)
    with pytest.raises(ConfigError, match="once combined"):
        ImageConfig(min_pixels=20000).processor_size(own)
