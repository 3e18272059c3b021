"""Artifact repository over fsspec: a local folder or any fsspec URL (``s3://`` with the ``s3`` extra).

Local files are written to a temp name in the destination folder and renamed, so a reader never sees
half a file.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

from .entities import FileInfo
from .errors import InvalidParameterValue, ResourceNotFound


def check_artifact_path(path: str | None) -> str:
    """A relative POSIX artifact path ('' for the root); absolute paths and '..' are refused."""
    if path is None or path in ("", "."):
        return ""
    if not isinstance(path, str):
        raise InvalidParameterValue(f"Invalid artifact path {path!r}: it must be a string.")
    norm = posixpath.normpath(path.replace("\\", "/"))
    if norm.startswith("/") or norm == ".." or norm.startswith("../") or ":" in norm.split("/")[0]:
        raise InvalidParameterValue(
            f"Invalid artifact path {path!r}: it must be relative and stay inside the run's artifact folder."
        )
    return "" if norm == "." else norm


class ArtifactRepository:
    """Read and write the artifacts under one root URI (a run's ``artifact_uri``).

    Example:
        >>> repo = ArtifactRepository(tempfile.mkdtemp())
        >>> repo.write_bytes(b"hi", "notes/a.txt")
        >>> [f.path for f in repo.list_artifacts("notes")]
        ['notes/a.txt']
    """

    def __init__(self, root_uri: str) -> None:
        self.root_uri = root_uri
        if "://" in root_uri and not root_uri.startswith("file://"):
            import fsspec

            try:
                self._fs, self._root = fsspec.core.url_to_fs(root_uri)
            except ImportError as e:
                raise InvalidParameterValue(
                    f"Artifact root {root_uri!r} needs an extra package ({e}); for s3:// run "
                    "`pip install 'lite-tracker[s3]'`."
                ) from e
            self._local: Path | None = None
        else:
            self._fs = None
            self._root = root_uri.removeprefix("file://")
            self._local = Path(self._root)

    def _join(self, *parts: str) -> str:
        return posixpath.join(self._root, *[p for p in parts if p])

    def write_bytes(self, data: bytes, artifact_file: str) -> None:
        """Store ``data`` as the file ``artifact_file`` (relative)."""
        rel = check_artifact_path(artifact_file)
        if not rel:
            raise InvalidParameterValue("artifact_file must name a file, e.g. 'notes/summary.txt'.")
        if self._local is not None:
            dest = self._local / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
        else:
            self._fs.pipe_file(self._join(rel), data)

    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy one local file into ``artifact_path`` (a folder, relative)."""
        src = Path(local_file)
        if not src.is_file():
            raise ResourceNotFound(f"Cannot log artifact: {str(src)!r} is not a file.")
        rel = posixpath.join(check_artifact_path(artifact_path), src.name)
        if self._local is not None:
            dest = self._local / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
            os.close(fd)
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        else:
            self._fs.put_file(str(src), self._join(rel))

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a local folder's contents (recursively) into ``artifact_path``."""
        src = Path(local_dir)
        if not src.is_dir():
            raise ResourceNotFound(f"Cannot log artifacts: {str(src)!r} is not a folder.")
        base = check_artifact_path(artifact_path)
        for dirpath, _, files in os.walk(src):
            rel_dir = Path(dirpath).relative_to(src).as_posix()
            for name in sorted(files):
                self.log_artifact(Path(dirpath) / name, posixpath.join(base, rel_dir) if rel_dir != "." else base)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """Direct children of ``path`` (relative), folders first then files, each sorted by name."""
        rel = check_artifact_path(path)
        if self._local is not None:
            target = self._local / rel
            if not target.is_dir():
                return []
            entries = [(e.name, e.is_dir(), None if e.is_dir() else e.stat().st_size)
                       for e in os.scandir(target) if not e.name.startswith(".tmp-")]
        else:
            target_s = self._join(rel)
            if not self._fs.isdir(target_s):
                return []
            entries = [(posixpath.basename(i["name"].rstrip("/")), i["type"] == "directory",
                        None if i["type"] == "directory" else i.get("size"))
                       for i in self._fs.ls(target_s, detail=True)]
        entries.sort(key=lambda e: (not e[1], e[0]))
        return [FileInfo(posixpath.join(rel, n) if rel else n, d, s) for n, d, s in entries]

    def download_artifacts(self, artifact_path: str, dst_path: str | os.PathLike[str] | None = None) -> str:
        """Copy a file or folder to ``dst_path`` (a new temp folder by default); return the local path."""
        rel = check_artifact_path(artifact_path)
        dst = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="lite_tracker-"))
        dst.mkdir(parents=True, exist_ok=True)
        out = dst / posixpath.basename(rel) if rel else dst
        if self._local is not None:
            src = self._local / rel
            if src.is_dir():
                shutil.copytree(src, out, dirs_exist_ok=True)
            elif src.is_file():
                shutil.copyfile(src, out)
            else:
                raise ResourceNotFound(f"No artifact at {rel!r} under {self.root_uri}.")
        else:
            src_s = self._join(rel)
            if not self._fs.exists(src_s):
                raise ResourceNotFound(f"No artifact at {rel!r} under {self.root_uri}.")
            if self._fs.isdir(src_s):
                self._fs.get(src_s.rstrip("/") + "/", str(out), recursive=True)
            else:
                self._fs.get_file(src_s, str(out))
        return str(out)


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
