"""Encode figures and images for ``log_figure`` / ``log_image`` / ``log_table``, and MLflow's :class:`Image`.

Images are encoded with Pillow (imported on first use, so ``import lite_tracker`` stays light). An image
series (``log_image(image, key=..., step=...)``) is stored the way MLflow stores it, so MLflow's UI and
tools read it: ``images/<key>%step%<step>%timestamp%<ms>%<uuid>.png`` plus a thumbnail of at most
256 pixels a side, ``...%compressed.webp``, with ``/`` in the key written as ``#``. Images in a column of
a ``log_table`` table are stored as MLflow stores them too: each one a PNG under
``table_images/<table name>/`` plus a WebP thumbnail, the cell replaced by a reference to both.
"""

from __future__ import annotations

import io
import os
import posixpath
import random
import re
import string
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameterValue

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from PIL.Image import Image as PILImage

_SERIES_KEY = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")
THUMBNAIL_SIZE = 256


def figure_bytes(figure: Any, artifact_file: str, save_kwargs: dict[str, Any] | None = None) -> bytes:
    """Serialize a matplotlib or plotly figure in the format its file name asks for."""
    ext = posixpath.splitext(artifact_file)[1].lower().lstrip(".") or "png"
    options = dict(save_kwargs or {})
    if hasattr(figure, "savefig"):
        buf = io.BytesIO()
        figure.savefig(buf, **{"format": ext, **options})
        return buf.getvalue()
    if hasattr(figure, "to_html") and ext == "html":
        return str(figure.to_html(**options)).encode()
    if hasattr(figure, "to_json") and ext == "json":
        return str(figure.to_json(**options)).encode()
    if hasattr(figure, "to_image"):
        return bytes(figure.to_image(**{"format": ext, **options}))
    raise InvalidParameterValue(
        f"Cannot log figure of type {type(figure).__name__}: expected a matplotlib Figure or a plotly Figure."
    )


def array_to_pil(array: Any) -> PILImage:
    """A PIL image of a numpy array, with MLflow's rules and messages.

    Accepted: HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA); bool (a mask), integers in [0, 255], or floats
    in [0, 1]. A bad shape or pixel value raises ``InvalidParameterValue`` (a ``ValueError``), another
    dtype a ``TypeError``, as MLflow raises them.
    """
    import numpy as np
    from PIL import Image as PILModule

    a = np.asarray(array)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"Invalid array data type: '{a.dtype}'. Must be one of bool, integers or floats.")
    if a.ndim not in (2, 3):
        raise InvalidParameterValue(f"`image` must be a 2D or 3D array but got a {a.ndim}D array.")
    if a.ndim == 3 and a.shape[2] not in (1, 3, 4):
        raise InvalidParameterValue(f"Invalid channel length: {a.shape[2]}. Must be one of [1, 3, 4].")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype.kind == "b":
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1):
            raise InvalidParameterValue(
                f"Float pixel values out of acceptable range [0.0, 1.0]. Found minimum value {np.nanmin(a)} "
                f"and maximum value {np.nanmax(a)}. Ensure all pixel values are within the specified range."
            )
        a = (np.nan_to_num(a) * 255).round()
    elif a.size and (a.min() < 0 or a.max() > 255):
        raise InvalidParameterValue(
            f"Integer pixel values out of acceptable range [0, 255]. Found minimum value {a.min()} and "
            f"maximum value {a.max()}. Ensure all pixel values are within the specified range."
        )
    return PILModule.fromarray(a.astype(np.uint8))


class Image:
    """An image to log, as MLflow's ``mlflow.Image``: built from a file path, a numpy array, a nested
    list of pixel values or a PIL image.

    Example:
        >>> img = Image([[0, 255], [255, 0]])  # doctest: +SKIP
        >>> img.size  # doctest: +SKIP
        (2, 2)
    """

    def __init__(self, image: str | os.PathLike[str] | list[Any] | Any) -> None:
        self.image = _open_file(image) if isinstance(image, (str, os.PathLike)) else to_pil(image)

    @property
    def size(self) -> tuple[int, int]:
        """Width and height in pixels."""
        width, height = self.image.size
        return int(width), int(height)

    def to_pil(self) -> PILImage:
        """The PIL image."""
        return self.image

    def to_array(self) -> np.ndarray[Any, Any]:
        """The pixels as a numpy array (HxW or HxWxC)."""
        import numpy as np

        return np.array(self.image)

    def to_list(self) -> list[Any]:
        """The pixels as nested lists."""
        return self.to_array().tolist()  # type: ignore[no-any-return]

    def resize(self, size: tuple[int, int]) -> Image:
        """A resized copy of this image, ``size`` being (width, height)."""
        return Image(self.image.resize(size))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the image to a file (format from the file name)."""
        self.image.save(path)


def _open_file(path: str | os.PathLike[str]) -> PILImage:
    """The image in a file (what :class:`Image` takes besides pixels)."""
    from PIL import Image as PILModule

    if not Path(path).is_file():
        raise InvalidParameterValue(f"No image file at {str(path)!r}.")
    with PILModule.open(path) as opened:
        opened.load()
        return opened


def to_pil(image: Any) -> PILImage:
    """A PIL image of anything :func:`log_image` takes: a PIL image, an :class:`Image`, a numpy array
    or a nested list of pixels (a file path is not an image to ``log_image``, as in MLflow)."""
    from PIL import Image as PILModule

    if isinstance(image, Image):
        return image.image
    if isinstance(image, PILModule.Image):
        return image
    if isinstance(image, list) or (hasattr(image, "shape") and hasattr(image, "dtype")):
        return array_to_pil(image)
    raise TypeError(
        f"Unsupported image object type: {type(image)}. `image` must be one of numpy.ndarray, "
        "PIL.Image.Image, and mlflow.Image."
    )


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """Encode an image in the format its file name asks for (PNG when it names none)."""
    ext = posixpath.splitext(artifact_file)[1].lower().lstrip(".") or "png"
    pil = to_pil(image)
    fmt = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}.get(ext, ext.upper())
    if fmt == "JPEG" and pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    buf = io.BytesIO()
    try:
        pil.save(buf, format=fmt)
    except (KeyError, ValueError, OSError) as e:
        raise InvalidParameterValue(f"Cannot save an image as {artifact_file!r}: {e}") from e
    return buf.getvalue()


def series_files(image: Any, key: str, step: int, timestamp: int) -> list[tuple[str, bytes]]:
    """The two files MLflow writes for one point of an image series: the PNG and its WebP thumbnail.

    Raises:
        InvalidParameterValue: ``key`` has characters other than letters, digits, ``_ - . /`` and space.
    """
    if not isinstance(key, str) or not _SERIES_KEY.match(key):
        raise InvalidParameterValue(
            "The `key` parameter may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
            f"spaces ( ), and slashes (/).The provided key `{key}` contains invalid characters."
        )
    pil = to_pil(image)
    # MLflow's file name: the uuid starts with a letter that is not a hex digit.
    suffix = random.choice(string.ascii_lowercase[6:]) + str(uuid.uuid4())[1:]
    stem = f"images/{key.replace('/', '#')}%step%{step}%timestamp%{timestamp}%{suffix}"
    full = io.BytesIO()
    pil.save(full, format="PNG")
    thumb = pil.copy()
    thumb.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    if thumb.mode not in ("RGB", "RGBA", "L", "LA"):
        thumb = thumb.convert("RGBA")
    small = io.BytesIO()
    thumb.save(small, format="WEBP")
    return [(f"{stem}.png", full.getvalue()), (f"{stem}%compressed.webp", small.getvalue())]


def is_image(obj: Any) -> bool:
    """Whether ``log_table`` stores ``obj`` as an image file: MLflow's test, an object that can ``save`` and
    ``resize`` (PIL images, :class:`Image`)."""
    return callable(getattr(obj, "save", None)) and callable(getattr(obj, "resize", None))


def table_image_files(frame: pd.DataFrame, artifact_file: str) -> list[tuple[str, bytes]]:
    """Replace, in place, every image cell of ``frame`` by MLflow's reference
    ``{"type": "image", "filepath": ..., "compressed_filepath": ...}`` and return the files to write: a PNG
    and a WebP thumbnail of at most 256 pixels a side per image. Only columns of Python objects are looked
    at: numbers and strings are never images.

    Raises:
        ValueError: A column mixes images and other values (MLflow's error).
    """
    files: list[tuple[str, bytes]] = []
    table_name = posixpath.splitext(artifact_file)[0]
    for name in frame.select_dtypes(include="object", exclude="str").columns:
        cells = frame[name].tolist()
        images = [is_image(c) for c in cells]
        if not any(images):
            continue
        if not all(images):
            raise ValueError(
                f"Column `{name}` contains a mix of images and non-images. Please ensure that all elements "
                "in the column are of the same type.")
        refs = []
        for image in cells:
            stem = posixpath.join("table_images", table_name, str(uuid.uuid4()))
            files.append((f"{stem}.png", _saved(image, "png")))
            files.append((f"{stem}.webp", _saved(_thumbnail(image), "webp")))
            refs.append({"type": "image", "filepath": f"{stem}.png", "compressed_filepath": f"{stem}.webp"})
        frame[name] = refs
    return files


def _thumbnail(image: Any) -> Any:
    """The image shrunk to fit ``THUMBNAIL_SIZE`` pixels a side (aspect kept), or itself when it fits."""
    width, height = image.size
    ratio = min(THUMBNAIL_SIZE / width, THUMBNAIL_SIZE / height) if width and height else 1.0
    if ratio >= 1.0:
        return image
    return image.resize((max(1, int(width * ratio)), max(1, int(height * ratio))))


def _saved(image: Any, ext: str) -> bytes:
    """The image encoded as ``ext``: through Pillow for PIL images and :class:`Image`, else the bytes the
    object's own ``save`` writes to a file named ``*.<ext>`` (how MLflow saves any image object).

    Raises:
        InvalidParameterValue: The image cannot be written in that format (a float image as PNG, say).
    """
    import tempfile

    from PIL import Image as PILModule

    try:
        if isinstance(image, (Image, PILModule.Image)):
            pil = to_pil(image)
            if ext == "webp" and pil.mode not in ("RGB", "RGBA", "L", "LA"):
                pil = pil.convert("RGBA")
            buf = io.BytesIO()
            pil.save(buf, format=ext.upper())
            return buf.getvalue()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"image.{ext}"
            image.save(str(path))
            return path.read_bytes()
    except (KeyError, ValueError, OSError) as e:
        raise InvalidParameterValue(f"Cannot save a table image as {ext.upper()}: {e}") from e
