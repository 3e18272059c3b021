"""Team sync through a shared bucket (S3, MinIO, SeaweedFS, ...): push, pull, periodic push.

Each local store pushes its new events, plus its runs' artifacts, into the bucket's Delta Lake tables
(one per event table, partitioned by store; see :mod:`lite_tracker.bucket.delta`); pull merges teammates'
pushes into the local store; ``MlflowClient("s3://bucket/prefix")`` reads the bucket directly.
See the README's "Team sync" section for the bucket layout.

Example:
    >>> from lite_tracker import sync
    >>> sync.push("s3://team-bucket/tracking", store="runs/lite_tracker.duckdb")  # doctest: +SKIP
    SyncResult(action='push', ...)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..bucket.untrusted import SkippedCommitWarning
from ..settings import tracking_uri_from_env
from ._types import SyncProgress, SyncResult

__all__ = ["SkippedCommitWarning", "SyncProgress", "SyncResult", "committed_files", "disable_sync", "enable_sync",
           "migrate", "optimize", "pull", "push", "storage_options", "vacuum"]


def _client(store: str | None):  # type: ignore[no-untyped-def]
    from .._remote import is_remote
    from ..errors import InvalidParameterValue
    from ..tracking.client import MlflowClient

    uri = store or tracking_uri_from_env()
    if uri and is_remote(uri):
        raise InvalidParameterValue(f"The store to sync must be a local store, not {uri!r}.")
    return MlflowClient(uri)


def _check_url(url: str) -> str:
    from .._remote import is_remote
    from ..errors import InvalidParameterValue

    if not isinstance(url, str) or not is_remote(url):
        raise InvalidParameterValue(f"Invalid bucket URL {url!r}: expected s3://bucket/prefix.")
    return url.rstrip("/")


def push(url: str, store: str | None = None, *, artifacts: bool = True, dry_run: bool = False,
         progress: Callable[[SyncProgress], None] | None = None) -> SyncResult:
    """Push what is new in a local store to a shared bucket.

    Incremental (only rows and artifact files not pushed yet), idempotent (a second push uploads
    nothing) and resumable (an interrupted push leaves nothing visible; running it again finishes it).

    Args:
        url: The bucket and prefix, e.g. ``s3://team-bucket/tracking``.
        store: The local store (default: the current tracking URI, then the usual default).
        artifacts: Also upload the artifacts of runs whose artifacts are in a local folder.
        dry_run: Only count what would be uploaded.
        progress: Called with a :class:`SyncProgress` after each uploaded batch.

    Returns:
        A :class:`SyncResult`; ``result.summary()`` is a one-line report.

    Raises:
        SyncError: The bucket is unreachable, missing, or refuses the credentials.

    Example:
        >>> push("s3://team-bucket/tracking").summary()  # doctest: +SKIP
        'pushed 4 files (52.1 KB), 3 runs, 1210 rows in 0.21s'
    """
    from ._push import push as _push

    return _push(_client(store), _check_url(url), artifacts=artifacts, dry_run=dry_run, progress=progress)


def pull(url: str, store: str | None = None, *, artifacts: bool = False, dry_run: bool = False,
         progress: Callable[[SyncProgress], None] | None = None,
         as_of: int | str | datetime | None = None) -> SyncResult:
    """Merge what teammates pushed to a shared bucket into a local store.

    Ids are kept; mutable fields are last writer wins by event time, with the history kept. A
    teammate's experiment with the same name as a local one is merged into the local one.

    Args:
        url: The bucket and prefix, e.g. ``s3://team-bucket/tracking``.
        store: The local store (default: the current tracking URI, then the usual default).
        artifacts: Download pulled runs' artifacts now (otherwise they are read from the bucket on demand).
        dry_run: Only count what would be downloaded.
        progress: Called with a :class:`SyncProgress` after each downloaded batch.
        as_of: Pull only what the team had pushed at this point: a version of the bucket's ``pushes``
            table (``12``) or a time (``"2026-11-30T12:00:00Z"``); a later pull brings the rest.

    Returns:
        A :class:`SyncResult`.

    Raises:
        SyncError: The bucket is unreachable, missing, or refuses the credentials.

    Example:
        >>> pull("s3://team-bucket/tracking").summary()  # doctest: +SKIP
        'pulled 12 files (310.2 KB), 40 runs, 40210 rows in 0.52s'
    """
    from ._pull import pull as _pull

    return _pull(_client(store), _check_url(url), artifacts=artifacts, dry_run=dry_run, progress=progress,
                 as_of=as_of)


def enable_sync(url: str, interval: float = 300.0, *, store: str | None = None, push_at_exit: bool = True,
                min_backoff: float = 5.0) -> None:
    """Push the store to ``url`` every ``interval`` seconds from a background thread.

    Logging never waits for it. A failed push (network down, bucket unreachable) logs a warning on the
    ``lite_tracker.sync`` logger and is retried with a doubling backoff (``min_backoff`` up to
    ``interval``). With ``push_at_exit``, a last push runs when the interpreter exits.

    Args:
        url: The bucket and prefix, e.g. ``s3://team-bucket/tracking``.
        interval: Seconds between pushes.
        store: The local store (default: the current tracking URI when this is called).
        push_at_exit: Push once more at interpreter exit.
        min_backoff: First retry delay after a failure, in seconds.

    Example:
        >>> import lite_tracker as mlflow
        >>> mlflow.enable_sync("s3://team-bucket/tracking", interval=300)  # doctest: +SKIP
    """
    from ..errors import InvalidParameterValue
    from ._background import enable

    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval <= 0:
        raise InvalidParameterValue(f"interval must be a positive number of seconds, got {interval!r}.")
    enable(_check_url(url), store or tracking_uri_from_env(), float(interval), push_at_exit, min_backoff)


def disable_sync(url: str | None = None, *, final_push: bool = False) -> None:
    """Stop background sync to ``url`` (all URLs by default), optionally pushing once more.

    Example:
        >>> import lite_tracker as mlflow
        >>> mlflow.disable_sync(final_push=True)  # doctest: +SKIP
    """
    from ._background import disable

    disable(None if url is None else url.rstrip("/"), final_push)


def storage_options() -> dict[str, str]:
    """The ``storage_options`` that point deltalake or polars at the bucket, from the same environment
    lite_tracker reads (the endpoint variables; credentials are left to the AWS chain).

    Example:
        >>> from deltalake import DeltaTable  # doctest: +SKIP
        >>> DeltaTable("s3://team-bucket/tracking/tables/metrics", storage_options=storage_options())  # doctest: +SKIP
    """
    from ..bucket.delta import storage_options as _options

    return _options()


def committed_files(url: str) -> dict[str, list[str]]:
    """The data files of each Delta table's current snapshot, as URLs (for engines without a Delta reader).

    Every engine with a Delta reader (deltalake, polars, Spark, Trino, DuckDB's ``delta``) reads
    ``<url>/tables/<table>`` directly instead, with the same result.

    Example:
        >>> files = committed_files("s3://team-bucket/tracking")  # doctest: +SKIP
        >>> con.sql("SELECT count(*) FROM read_parquet($f)", params={"f": files["metrics"]})  # doctest: +SKIP
    """
    from ..bucket import delta
    from ..bucket.delta import PUSHES
    from ..bucket.objects import Bucket
    from ..store.segments import TABLES

    bucket = Bucket(_check_url(url))
    out: dict[str, list[str]] = {}
    with bucket.errors("reading"):
        bucket.check_format()
        for table in [spec.events for spec in TABLES] + [PUSHES]:
            dt = delta.load(bucket.url, table)
            if dt is not None:
                out[table] = sorted(dt.file_uris())
    return out


def optimize(url: str) -> dict[str, dict[str, int]]:
    """Compact the bucket's small files (metrics sorted by run and key with a Z-order) and checkpoint
    each table's log, so reads stay fast. Safe while teammates push.

    Returns:
        ``table -> {"files_added": n, "files_removed": n}``.

    Example:
        >>> optimize("s3://team-bucket/tracking")["metrics"]  # doctest: +SKIP
        {'files_added': 1, 'files_removed': 40}
    """
    from ._maintain import optimize as _optimize

    return _optimize(_check_url(url))


def vacuum(url: str, retain_hours: float = 168.0, *, dry_run: bool = False) -> list[str]:
    """Delete the files no snapshot of the last ``retain_hours`` needs: files an optimize replaced and
    leftovers of interrupted pushes. Time travel reaches back ``retain_hours`` afterwards.

    A push uploads its files a moment before committing them: keep ``retain_hours`` longer than any
    push takes (use 0 only when nobody pushes).

    Returns:
        The deleted (or, with ``dry_run``, deletable) files, as ``tables/<table>/<path>``.

    Example:
        >>> len(vacuum("s3://team-bucket/tracking", retain_hours=24))  # doctest: +SKIP
        40
    """
    from ._maintain import vacuum as _vacuum

    return _vacuum(_check_url(url), retain_hours, dry_run)


def migrate(url: str, to: str | None = None, *, dry_run: bool = False,
            progress: Callable[[SyncProgress], None] | None = None) -> SyncResult:
    """Move a bucket of format 1 (Parquet files and commit objects) to Delta Lake tables (format 2).

    In place by default, or into a new prefix ``to``. Every commit becomes one push of its store; a
    malformed commit is skipped with a :class:`SkippedCommitWarning`. Run again, it writes nothing twice.

    Example:
        >>> migrate("s3://team-bucket/tracking", dry_run=True).summary()  # doctest: +SKIP
        'would have migrated 12 files (310.2 KB), 0 runs, 40210 rows in 0.31s (dry run: 3 stores, nothing written)'
    """
    from ._maintain import migrate as _migrate

    return _migrate(_check_url(url), None if to is None else _check_url(to), dry_run=dry_run, progress=progress)
