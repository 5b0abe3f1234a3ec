"""Image values as datasets store them -> ``ImageRef``s, with relative paths made absolute.

Datasets hold images in several ways, often mixed within one benchmark's releases:

* the HF ``datasets.Image`` struct ``{"bytes", "path"}`` (parquet and ``save_to_disk`` folders; MathVista's
  ``decoded_image``, MMR1's ``images``): kept as is when it carries bytes; its path is used otherwise;
* raw encoded bytes;
* a file path, absolute or relative to the dataset (MathVista's ``image`` = ``images/1.jpg``, We-Math's
  ``image_path`` in its GitHub JSON): relative paths are resolved against the context's ``base_dir``;
* a list of any of these (the EasyR1 ``images`` column).

Nothing is decoded here (``data.images`` does that, in the workers). A relative path that does not exist
after resolution fails here, with the folder it was resolved against, because that is the error a user
can fix (``data.source.image_root``); absolute paths are left to the decoder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from megatron_mmupt.data.types import ImageRef

_REMOTE = ("http://", "https://", "hf://", "s3://", "gs://")


class ImageValueError(ValueError):
    """An image value that cannot become an ``ImageRef``; ``missing_file`` marks an unresolvable path."""

    def __init__(self, message: str, *, missing_file: bool = False) -> None:
        super().__init__(message)
        self.missing_file = missing_file


def image_refs(value: Any, base_dir: Path | None, root_key: str) -> tuple[ImageRef, ...]:
    """The images of one cell, in order; ``None`` or an empty path means no image.

    ``root_key`` is the config key that sets ``base_dir`` (for the error message of an unresolved path).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return ()
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    refs = []
    for position, item in enumerate(items, start=1):
        where = f"image {position} of {len(items)}" if len(items) > 1 else "the image"
        refs.append(_one(item, base_dir, root_key, where))
    return tuple(refs)


def _one(item: Any, base_dir: Path | None, root_key: str, where: str) -> ImageRef:
    if isinstance(item, dict):
        data, path = item.get("bytes"), item.get("path")
        if data:
            return {"bytes": bytes(data), "path": path}
        if isinstance(path, str) and path.strip():
            return resolve_path(path, base_dir, root_key)
        raise ImageValueError(f"{where} is an image struct with neither bytes nor path")
    if isinstance(item, (bytes, bytearray, memoryview)):
        if not item:
            raise ImageValueError(f"{where} is empty bytes")
        return bytes(item)
    if isinstance(item, (str, os.PathLike)):
        if not str(item).strip():
            raise ImageValueError(f"{where} is an empty path")
        return resolve_path(str(item), base_dir, root_key)
    if isinstance(item, Image.Image):
        return item
    kind = "null" if item is None else type(item).__name__
    raise ImageValueError(f"{where} is {kind}; expected an image struct, bytes or a file path")


def resolve_path(path: str, base_dir: Path | None, root_key: str) -> str:
    """``path`` made absolute: as is when absolute, else joined to ``base_dir`` and checked to exist."""
    if path.startswith(_REMOTE):
        raise ImageValueError(f"image {path!r} is a remote URL; download the images and point at local files")
    if os.path.isabs(path):
        return path
    if base_dir is None:
        raise ImageValueError(
            f"image path {path!r} is relative but the dataset has no local folder (hub dataset); "
            f"set {root_key}=<folder the paths are relative to>"
        )
    resolved = os.path.normpath(base_dir / path)
    if not os.path.exists(resolved):
        raise ImageValueError(
            f"image path {path!r} resolved against {str(base_dir)!r} does not exist; "
            f"set {root_key}=<folder the paths are relative to>",
            missing_file=True,
        )
    return resolved
