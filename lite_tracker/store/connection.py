"""Every DuckDB connection lite_tracker opens, and the translation of store-level failures.

:func:`connect` is the one place a connection is made: it applies lite_tracker's settings (no progress
bar: a library prints nothing to stdout) and turns a failure to open a store file into a
:class:`~lite_tracker.errors.StoreError` naming the path and what to do. :func:`store_error` does the
same for errors met later (a read of a truncated file, a full disk during compaction), and
:func:`os_store_error` for the OS errors of writing segments, lock files and artifacts.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreBusy, StoreCorrupt, StoreError, StoreFull, StoreReadOnly

if TYPE_CHECKING:
    import duckdb

_HELD_BY = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")
_READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


def connect(path: Path | None = None, read_only: bool = False,
            config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory database (``path`` None) or a store file with lite_tracker's settings;
    ``config`` is passed to DuckDB.

    Raises:
        StoreError: The file cannot be opened (damaged, busy, read-only, disk full), with the path.
    """
    import duckdb

    if path is None:
        con = duckdb.connect(":memory:", config=dict(config or {}))
    else:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=dict(config or {}))
        except duckdb.Error as e:
            raise store_error(e, path) from e
    # DuckDB prints a progress bar to stdout for queries over 2 s (a session setting, not a config one).
    con.execute("SET enable_progress_bar = false")
    return con


def store_error(e: Exception, path: Path) -> StoreError:
    """The :class:`StoreError` for a DuckDB error met while using the store file ``path``."""
    text = str(e)
    held = _HELD_BY.search(text)
    if held or "Could not set lock on file" in text:
        who = f"{held.group(1)} (PID {held.group(2)})" if held else "another program"
        return StoreBusy(
            f"The store file {str(path)!r} is held open read-write by {who}. lite_tracker keeps logging "
            "(writes go to pending segments) and folds them in once it is closed; open the file from other "
            "programs with duckdb.connect(path, read_only=True)."
        )
    if "No space left on device" in text:
        return _full(path.parent, text)
    if "Permission denied" in text or "Read-only file system" in text:
        return read_only_error(path.parent, text)
    if "database does not exist" in text:
        return missing_store(path)
    if any(s in text for s in ("not a valid DuckDB database file", "Could not read enough bytes", "checksum",
                               "Corrupt", "corrupt")):
        return StoreCorrupt(
            f"The store file {str(path)!r} is damaged or not a lite_tracker store ({text.strip()}). Restore "
            "it from a backup, or point the tracking URI to another file; lite_tracker did not change it."
        )
    return StoreError(f"The store file {str(path)!r} could not be used: {text.strip()}")


def os_store_error(e: OSError, folder: Path) -> StoreError | None:
    """The :class:`StoreError` for an OS error writing under ``folder``, or None if it is not a
    store-level failure (the caller re-raises it or maps it otherwise)."""
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return _full(folder, str(e))
    if e.errno in _READ_ONLY_ERRNOS:
        return read_only_error(folder, str(e))
    return None


def missing_store(path: Path) -> StoreCorrupt:
    """The error for a store file that is gone while its folder of pending data remains."""
    return StoreCorrupt(
        f"The store file {str(path)!r} is missing, but its folder {str(path) + '.d'!r} still holds data: the "
        "file was deleted or moved. Put it back (restore it from a backup); lite_tracker refuses to start an "
        "empty store over the remaining data."
    )


def _full(folder: Path, detail: str) -> StoreFull:
    return StoreFull(
        f"No space left on device (ENOSPC) in {str(folder)!r} ({detail.strip()}). Free disk space: nothing "
        "logged is lost (it waits in memory or in pending segments) and the next attempt writes it."
    )


def read_only_error(folder: Path, detail: str) -> StoreReadOnly:
    """The error for writing to a store whose ``folder`` cannot be written."""
    return StoreReadOnly(
        f"The store folder {str(folder)!r} is read-only ({detail.strip()}): this store can be searched and "
        "read but not written. Copy it to a writable folder to log to it."
    )
