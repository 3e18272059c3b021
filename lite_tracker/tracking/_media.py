"""Encode figures and images for ``log_figure`` / ``log_image``."""

from __future__ import annotations

import io
import posixpath
import struct
import zlib
from typing import Any

from ..errors import InvalidParameterValue


def figure_bytes(figure: Any, artifact_file: str) -> bytes:
    """Serialize a matplotlib or plotly figure in the format its file name asks for."""
    ext = posixpath.splitext(artifact_file)[1].lower().lstrip(".") or "png"
    if hasattr(figure, "savefig"):
        buf = io.BytesIO()
        figure.savefig(buf, format=ext)
        return buf.getvalue()
    if hasattr(figure, "to_html") and ext == "html":
        return str(figure.to_html()).encode()
    if hasattr(figure, "to_json") and ext == "json":
        return str(figure.to_json()).encode()
    if hasattr(figure, "to_image"):
        return bytes(figure.to_image(format=ext))
    raise InvalidParameterValue(
        f"Cannot log figure of type {type(figure).__name__}: expected a matplotlib Figure or a plotly Figure."
    )


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """Encode a PIL image, or a numpy array (HxW, HxWx3 or HxWx4; uint8, or floats in [0, 1]), as PNG."""
    ext = posixpath.splitext(artifact_file)[1].lower().lstrip(".") or "png"
    if hasattr(image, "save") and hasattr(image, "mode"):
        buf = io.BytesIO()
        image.save(buf, format={"jpg": "JPEG"}.get(ext, ext.upper()))
        return buf.getvalue()
    if hasattr(image, "shape") and hasattr(image, "dtype"):
        if ext != "png":
            raise InvalidParameterValue(f"Arrays are saved as PNG; use a '.png' file name, not {artifact_file!r}.")
        return _png(image)
    raise InvalidParameterValue(
        f"Cannot log image of type {type(image).__name__}: expected a PIL Image or a numpy array."
    )


def _png(array: Any) -> bytes:
    import numpy as np

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InvalidParameterValue(f"Invalid image shape {a.shape}: expected HxW, HxWx3 or HxWx4.")
    if a.dtype.kind == "f":
        if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1):
            raise InvalidParameterValue("Float images must have values in [0, 1].")
        a = (np.nan_to_num(a) * 255).round()
    elif a.dtype.kind in "iu" and a.size and (a.min() < 0 or a.max() > 255):
        raise InvalidParameterValue("Integer images must have values in [0, 255].")
    a = a.astype(np.uint8)
    height, width = a.shape[:2]
    color = {1: 0, 3: 2, 4: 6}[1 if a.ndim == 2 else a.shape[2]]  # gray, RGB, RGBA
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
