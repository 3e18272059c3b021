"""Artifact repository over fsspec: a local folder or any fsspec URL (``s3://`` with the ``s3`` extra).

Local files are written to a temp name in the destination folder and renamed, so a reader never sees
half a file.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import shutil
import stat
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from ..entities import FileInfo
from ..errors import InvalidParameterValue, ResourceNotFound
from .connection import os_store_error

# Small files that sync pushes for the first time travel in zip packs (one object instead of many)
# kept in this hidden folder of the run's artifact folder; reading a run's artifacts merges them in.
PACK_FOLDER = ".lite_tracker/packs"
NAME_MAX = 255  # bytes of one file or folder name on the usual file systems (ext4, xfs, APFS, tmpfs)


class UnsafePathWarning(UserWarning):
    """A remote artifact name (a zip pack entry, an object key) would land outside its destination
    folder, or is a symlink; it was skipped."""


def put_file(fs: Any, local: str, remote: str) -> None:
    """Upload one file: a single PUT when small, a concurrent multipart upload when large."""
    from .._remote import put_file as _put

    _put(fs, local, remote)


def upload_many(fs: Any, pairs: list[tuple[str, str]], callback: Any = None) -> None:
    """Upload many ``(local, remote)`` files concurrently in one call (s3fs batches them)."""
    from .._remote import MULTIPART_CHUNK

    kwargs: dict[str, Any] = {"chunksize": MULTIPART_CHUNK}
    if callback is not None:
        kwargs["callback"] = callback
    fs.put([p[0] for p in pairs], [p[1] for p in pairs], **kwargs)


def check_artifact_path(path: str | None) -> str:
    """A relative POSIX artifact path ('' for the root); absolute paths and '..' are refused."""
    if path is None or path in ("", "."):
        return ""
    if not isinstance(path, str):
        raise InvalidParameterValue(f"Invalid artifact path {path!r}: it must be a string.")
    if "\x00" in path:
        raise InvalidParameterValue(f"Invalid artifact path {path!r}: it contains a NUL character.")
    norm = posixpath.normpath(path.replace("\\", "/"))
    long = [part for part in norm.split("/") if len(part.encode("utf-8", "surrogatepass")) > NAME_MAX]
    if long:
        raise InvalidParameterValue(
            f"Invalid artifact path {path!r}: the name {long[0][:40]!r}... is longer than {NAME_MAX} bytes, "
            "which file systems refuse. Use a shorter name."
        )
    if norm.startswith("/") or norm == ".." or norm.startswith("../") or ":" in norm.split("/")[0]:
        raise InvalidParameterValue(
            f"Invalid artifact path {path!r}: it must be relative and stay inside the run's artifact folder."
        )
    return "" if norm == "." else norm


def confined_path(root: str | os.PathLike[str], rel: str) -> Path:
    """Where the remote name ``rel`` goes under the local folder ``root``, resolved.

    Every place that writes local files named by a remote source (zip packs, bucket objects, pulled
    runs) goes through here: ``rel`` must be relative with no '..' part, and the resolved path (after
    any symlink already in ``root``) must stay inside ``root``.

    Raises:
        InvalidParameterValue: ``rel`` is absolute, has a '..' part, or resolves outside ``root``.

    Example:
        >>> confined_path("/tmp/out", "a/b.txt").as_posix()  # doctest: +SKIP
        '/tmp/out/a/b.txt'
    """
    if not _relative_name(rel):
        raise InvalidParameterValue(f"Unsafe path {rel!r}: it must be relative, without '..', inside {str(root)!r}.")
    base = Path(root).resolve()
    text = rel.replace("\\", "/")
    target = (base / text).resolve()
    if target != base and base not in target.parents:
        raise InvalidParameterValue(f"Unsafe path {rel!r}: it resolves to {str(target)!r}, outside {str(base)!r}.")
    return target


def _relative_name(rel: object) -> bool:
    """A non-empty relative name with no '..' part, no drive and no NUL (separators '/' or '\\')."""
    if not isinstance(rel, str):
        return False
    text = rel.replace("\\", "/")
    parts = text.split("/")
    return bool(text) and not text.startswith("/") and ":" not in parts[0] and ".." not in parts and "\x00" not in text


def _extract_target(out: Path, rel: str, source: str) -> Path | None:
    """``confined_path(out, rel)``, or None with an :class:`UnsafePathWarning` naming ``source``."""
    try:
        return confined_path(out, rel)
    except InvalidParameterValue:
        warnings.warn(f"Skipped {rel!r} from {source}: it would be written outside {str(out)!r}.",
                      UnsafePathWarning, stacklevel=3)
        return None


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
            from .._remote import filesystem

            self._fs, self._root = filesystem(root_uri)
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
            _place(self._local / rel, lambda f: f.write(data))
        else:
            self._remote_call("uploading to", self._fs.pipe_file, self._join(rel), data)

    def write_stream(self, stream: Any, artifact_file: str) -> None:
        """Store what a binary file-like object's ``read()`` returns as the file ``artifact_file``, read in
        chunks; nothing is stored when the stream fails or gives text.

        Raises:
            InvalidParameterValue: ``stream`` has no ``read()`` or its ``read()`` returns something else
                than bytes.
        """
        rel = check_artifact_path(artifact_file)
        if not rel:
            raise InvalidParameterValue("artifact_file must name a file, e.g. 'data/blob.bin'.")
        if not callable(getattr(stream, "read", None)):
            raise InvalidParameterValue(
                f"stream must be a binary file-like object with read(), e.g. io.BytesIO; got {type(stream).__name__}.")
        if self._local is not None:
            _place(self._local / rel, lambda f: _copy_binary(stream, f))
            return
        with tempfile.NamedTemporaryFile() as spool:
            _copy_binary(stream, spool)
            spool.flush()
            self._remote_call("uploading to", put_file, self._fs, spool.name, self._join(rel))

    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy one local file into ``artifact_path`` (a folder, relative)."""
        src = Path(local_file)
        if not src.is_file():
            raise ResourceNotFound(f"Cannot log artifact: {str(src)!r} is not a file.")
        rel = posixpath.join(check_artifact_path(artifact_path), src.name)
        if self._local is not None:
            with open(src, "rb") as source:
                _place(self._local / rel, lambda f: shutil.copyfileobj(source, f))
        else:
            self._remote_call("uploading to", put_file, self._fs, str(src), self._join(rel))

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a local folder's contents (recursively) into ``artifact_path``."""
        src = Path(local_dir)
        if not src.is_dir():
            raise ResourceNotFound(f"Cannot log artifacts: {str(src)!r} is not a folder.")
        base = check_artifact_path(artifact_path)
        if self._local is None:
            # One concurrent batch: small files go up many at a time, large ones as multipart uploads.
            pairs = [(str(f), self._join(base, f.relative_to(src).as_posix()))
                     for f in sorted(src.rglob("*")) if f.is_file()]
            if pairs:
                self._remote_call("uploading to", upload_many, self._fs, pairs)
            return
        for dirpath, _, files in os.walk(src):
            rel_dir = Path(dirpath).relative_to(src).as_posix()
            (self._local / base / rel_dir).mkdir(parents=True, exist_ok=True)  # empty folders too, as MLflow
            for name in sorted(files):
                self.log_artifact(Path(dirpath) / name, posixpath.join(base, rel_dir) if rel_dir != "." else base)

    def _remote_call(self, action: str, func: Any, *args: Any) -> Any:
        """Call the remote filesystem; a missing bucket becomes ResourceNotFound naming it, network and
        permission failures a clear SyncError naming the endpoint."""
        from .._remote import sync_error, transfer_errors

        try:
            return func(*args)
        except transfer_errors() as e:
            if isinstance(e, (FileNotFoundError, PermissionError)):
                self._check_bucket()
            if isinstance(e, FileNotFoundError) and action != "uploading to":
                raise ResourceNotFound(f"Not found under {self.root_uri} while {action} it: {e}") from e
            raise sync_error(e, self.root_uri, action) from e

    def _check_bucket(self) -> None:
        """Raise ResourceNotFound if the root's bucket does not exist (checked only when the server
        can say so: S3 filesystems, reachable)."""
        from .._remote import endpoint_url, redact_url, transfer_errors

        if not hasattr(self._fs, "call_s3"):
            return
        bucket = self._root.split("/", 1)[0]
        try:
            self._fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError as e:
            raise ResourceNotFound(
                f"The bucket {bucket!r} does not exist at {redact_url(endpoint_url())}: create it, or set the "
                f"artifact root (LITE_TRACKER_ARTIFACT_ROOT, or the experiment's artifact_location) to a bucket "
                f"that exists. The artifacts of this run go to {self.root_uri}."
            ) from e
        except transfer_errors():
            return  # the server answers, but not about the bucket (e.g. access denied): the caller's error stands

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
            entries = self._remote_call("listing", self._remote_children, rel)
            if not entries:
                self._check_bucket()
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
            self._download_remote(rel, dst, out)
        return str(out)

    def delete_artifacts(self, keep: tuple[str, ...] = ()) -> int:
        """Delete every file under the root except those under the relative paths ``keep`` (and, on a
        remote store, the zip packs when something is kept: they may hold kept files); folders left
        empty go too. Returns the number of files deleted."""
        keep = tuple(check_artifact_path(k) for k in keep)
        if "" in keep:
            return 0

        def kept(rel: str) -> bool:
            return any(rel == k or rel.startswith(k + "/") for k in keep)

        if self._local is None:
            try:
                found = self._remote_call("deleting from", self._fs.find, self._root)
            except FileNotFoundError:
                return 0
            gone = [f for f in found if not kept(f[len(self._root) + 1:])
                    and not (keep and f[len(self._root) + 1:].startswith(PACK_FOLDER + "/"))]
            if gone:
                self._remote_call("deleting from", self._fs.rm, gone)
            return len(gone)
        count = 0
        for dirpath, _, files in os.walk(self._local, topdown=False):
            folder = Path(dirpath)
            rel_dir = folder.relative_to(self._local).as_posix()
            for name in files:
                if not kept(name if rel_dir == "." else f"{rel_dir}/{name}"):
                    (folder / name).unlink()
                    count += 1
            if not any(folder.iterdir()):
                folder.rmdir()
        return count

    def _download_remote(self, rel: str, dst: Path, out: Path) -> None:
        """Download ``rel`` into a temp folder in ``dst``, then move it to ``out``: a download that fails
        half-way leaves nothing where the caller looks."""
        staging = Path(tempfile.mkdtemp(dir=dst, prefix=".tmp-"))
        try:
            got = staging / "download"
            if not self._remote_call("downloading from", self._remote_download, rel, got):
                self._check_bucket()
                raise ResourceNotFound(f"No artifact at {rel!r} under {self.root_uri}.")
            if got.is_dir():
                for f in sorted(got.rglob("*")):
                    # confined again: a symlink already in the destination must not carry a file out of it
                    target = _extract_target(out, f.relative_to(got).as_posix(), self.root_uri) if f.is_file() else None
                    if target is not None:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(f, target)
            else:
                os.replace(got, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # ------------------------------------------------------------ remote folders (and packs)

    def _packed(self) -> dict[str, tuple[str, int]]:
        """Files kept in this folder's packs: ``rel -> (pack path, size)``; a newer pack wins."""
        folder = self._join(PACK_FOLDER)
        try:
            packs = sorted(p for p in self._fs.ls(folder, detail=False) if p.endswith(".zip"))
        except FileNotFoundError:
            return {}
        found: dict[str, tuple[str, int]] = {}
        for pack in packs:
            with self._fs.open(pack, "rb") as f, zipfile.ZipFile(f) as z:
                for info in z.infolist():
                    if info.is_dir():
                        continue
                    if not _safe_entry(info):
                        warnings.warn(f"Skipped {info.filename!r} in {pack}: a symlink or a path that leaves the "
                                      "run's artifact folder.", UnsafePathWarning, stacklevel=2)
                        continue
                    found[info.filename] = (pack, info.file_size)
        return found

    def _remote_children(self, rel: str) -> list[tuple[str, bool, int | None]]:
        target = self._join(rel)
        children: dict[str, tuple[bool, int | None]] = {}
        for name, (_, size) in self._packed().items():
            if rel and not name.startswith(rel + "/"):
                continue
            head, _, rest = name[len(rel) + 1 if rel else 0:].partition("/")
            children[head] = (True, None) if rest else (False, size)
        if self._fs.isdir(target):
            for i in self._fs.ls(target, detail=True):
                name = posixpath.basename(i["name"].rstrip("/"))
                if not rel and name == PACK_FOLDER.split("/")[0]:
                    continue
                is_dir = i["type"] == "directory"
                children[name] = (is_dir, None if is_dir else i.get("size"))
        return [(n, d, size) for n, (d, size) in children.items()]

    def _remote_download(self, rel: str, out: Path) -> bool:
        """Download ``rel`` (a file or a folder) to ``out``; False if nothing is there.

        Packed files are extracted first, then plain objects are fetched over them (a file pushed
        again after it was packed is a plain object, and the newer copy)."""
        packed = self._packed()
        wanted = {name: pack for name, (pack, _) in packed.items()
                  if name == rel or not rel or name.startswith(rel + "/")}
        by_pack: dict[str, list[str]] = {}
        for name, pack in wanted.items():
            by_pack.setdefault(pack, []).append(name)
        for pack, names in by_pack.items():
            with zipfile.ZipFile(io.BytesIO(self._fs.cat_file(pack))) as z:
                for name in names:
                    dest = out if name == rel else _extract_target(out, name[len(rel) + 1:] if rel else name, pack)
                    if dest is None:
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(z.read(name))
        src = self._join(rel)
        if self._fs.isfile(src):
            out.parent.mkdir(parents=True, exist_ok=True)
            self._fs.get_file(src, str(out))
            return True
        try:
            found = [f for f in self._fs.find(src) if not f[len(src) + 1:].startswith(PACK_FOLDER + "/")]
        except FileNotFoundError:
            found = []
        pairs = [(f, _extract_target(out, f[len(src) + 1:], f)) for f in found]
        found = [f for f, t in pairs if t is not None]
        if found:
            targets = [str(t) for _, t in pairs if t is not None]
            for t in targets:
                os.makedirs(os.path.dirname(t), exist_ok=True)
            self._fs.get(found, targets)
        return bool(found or wanted)


def _copy_binary(stream: Any, out: Any) -> None:
    """Copy ``stream`` to the open binary file ``out`` in 1 MB chunks, refusing text."""
    while chunk := stream.read(1 << 20):
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidParameterValue(
                f"stream must be binary (open the file with 'rb', or use io.BytesIO): read() returned "
                f"{type(chunk).__name__}.")
        out.write(chunk)


def _place(dest: Path, fill: Any) -> None:
    """Write a local artifact: ``fill(file)`` writes a temp file beside ``dest``, renamed into place.

    A name the OS refuses (too long, invalid) raises InvalidParameterValue, a full disk or a read-only
    folder the matching StoreError; no temp file is left behind, whatever ``fill`` raises.
    """
    tmp: str | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            fill(f)
        os.replace(tmp, dest)
        tmp = None
    except OSError as e:
        if e.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ):
            raise InvalidParameterValue(f"Cannot store artifact {str(dest)!r}: the OS refused the name ({e.strerror}). "
                                        "Use a shorter name of ordinary characters.") from e
        err = os_store_error(e, dest.parent)
        if err is None:
            raise
        raise err from e
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _safe_entry(info: zipfile.ZipInfo) -> bool:
    """A zip entry that may be extracted: a regular file with a relative name without '..'."""
    return not stat.S_ISLNK(info.external_attr >> 16) and _relative_name(info.filename)
