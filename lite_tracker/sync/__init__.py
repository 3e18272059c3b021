"""Team sync through a shared bucket (S3, MinIO, SeaweedFS, ...): push, pull, periodic push.

Each local store pushes its new events as Parquet files, plus its runs' artifacts, under its own
partition of the bucket and commits them with a create-only commit object; pull merges teammates'
commits into the local store; ``MlflowClient("s3://bucket/prefix")`` reads the bucket directly.
See the README's "Team sync" section for the bucket layout.

Example:
    >>> from lite_tracker import sync
    >>> sync.push("s3://team-bucket/tracking", store="runs/lite_tracker.duckdb")  # doctest: +SKIP
    SyncResult(action='push', ...)
"""

from __future__ import annotations

from collections.abc import Callable

from ..bucket.untrusted import SkippedCommitWarning
from ..settings import tracking_uri_from_env
from ._types import SyncProgress, SyncResult

__all__ = ["SkippedCommitWarning", "SyncProgress", "SyncResult", "committed_files", "disable_sync", "enable_sync",
           "pull", "push"]


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
         progress: Callable[[SyncProgress], None] | None = None) -> SyncResult:
    """Merge what teammates pushed to a shared bucket into a local store.

    Ids are kept; mutable fields are last writer wins by event time, with the history kept. A
    teammate's experiment with the same name as a local one is merged into the local one.

    Args:
        url: The bucket and prefix, e.g. ``s3://team-bucket/tracking``.
        store: The local store (default: the current tracking URI, then the usual default).
        artifacts: Download pulled runs' artifacts now (otherwise they are read from the bucket on demand).
        dry_run: Only count what would be downloaded.
        progress: Called with a :class:`SyncProgress` after each downloaded batch.

    Returns:
        A :class:`SyncResult`.

    Raises:
        SyncError: The bucket is unreachable, missing, or refuses the credentials.

    Example:
        >>> pull("s3://team-bucket/tracking").summary()  # doctest: +SKIP
        'pulled 12 files (310.2 KB), 40 runs, 40210 rows in 0.52s'
    """
    from ._pull import pull as _pull

    return _pull(_client(store), _check_url(url), artifacts=artifacts, dry_run=dry_run, progress=progress)


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


def committed_files(url: str) -> dict[str, list[str]]:
    """The committed data files in a bucket, per table, as ``s3://`` URLs (for DuckDB, pyarrow, Spark).

    Globbing ``tables/<table>/*/*.parquet`` also works; it may in addition read the leftovers of an
    interrupted push (copies of rows that a later push committed). This list is exact.

    Example:
        >>> files = committed_files("s3://team-bucket/tracking")  # doctest: +SKIP
        >>> con.sql("SELECT count(*) FROM read_parquet($f)", params={"f": files["metrics"]})  # doctest: +SKIP
    """
    from ..bucket.objects import Bucket
    from ..bucket.untrusted import read_commits

    bucket = Bucket(_check_url(url))
    scheme = bucket.url.split("://", 1)[0]
    out: dict[str, list[str]] = {}
    with bucket.errors("reading"):
        wanted = [(s, n) for s, ns in sorted(bucket.commit_numbers().items()) for n in ns]
        for commit in read_commits(bucket, wanted):  # malformed commits are left out, with a warning
            for table, files in commit.files.items():
                out.setdefault(table, []).extend(f"{scheme}://{bucket.path(f['path'])}" for f in files)
    return out
