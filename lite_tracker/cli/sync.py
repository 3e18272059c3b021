"""``lite-tracker sync push|pull|optimize|vacuum|migrate``: parse, call :mod:`lite_tracker.sync`, render
(progress on stderr)."""

from __future__ import annotations

import re
import time
from typing import Any

import click

from ..errors import InvalidParameterValue, LiteTrackerException
from ._common import existing_store, store_option
from ._progress import ProgressLine

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """``"5m"`` -> 300.0; plain numbers are seconds (``s``, ``m``, ``h``, ``d`` suffixes)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise InvalidParameterValue(f"Invalid interval {text!r}: use e.g. 30s, 5m, 1h.")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _sync_progress(p: Any) -> str:
    mb = f"{p.bytes_done / 1e6:.1f}/{p.bytes_total / 1e6:.1f} MB"
    return f"{p.action}: {p.files_done}/{p.files_total} files, {mb} ({p.fraction:.0%})"


@click.group()
def sync() -> None:
    """Share runs through a bucket (S3, MinIO, ...): push, pull, upkeep.

    Push this store's new data, pull teammates'; the bucket holds Delta Lake tables (optimize and vacuum
    keep them fast and small; migrate moves a bucket of the first format to them).

    Endpoint: LITE_TRACKER_S3_ENDPOINT_URL, MLFLOW_S3_ENDPOINT_URL or AWS_ENDPOINT_URL(_S3); credentials:
    the usual AWS variables or profile.

    \b
    Example:
      lite-tracker sync push s3://team-bucket/tracking --store runs.duckdb
    """


_URL = click.argument("url", metavar="s3://BUCKET/PREFIX")
_QUIET = click.option("--quiet", "-q", is_flag=True, help="No progress line.")
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Only report what would be transferred.")


@sync.command()
@_URL
@store_option
@click.option("--every", metavar="INTERVAL", help="Keep pushing at this interval (e.g. 30s, 5m, 1h) until "
                                                  "interrupted; failures are retried.")
@_DRY_RUN
@click.option("--no-artifacts", is_flag=True, help="Push run data only, no artifact files.")
@_QUIET
@click.pass_context
def push(ctx: click.Context, url: str, store: str | None, every: str | None, dry_run: bool, no_artifacts: bool,
         quiet: bool) -> None:
    """Push what is new in the local store (events and artifacts) to a shared bucket.

    \b
    Example:
      lite-tracker sync push s3://team-bucket/tracking --every 5m
    """
    from .. import sync as sync_api

    interval = parse_interval(every) if every else None
    store = existing_store(store)  # pushing only reads the store: a typo must not create an empty one
    failures = 0
    try:
        while True:
            line = ProgressLine(not quiet, _sync_progress)
            try:
                result = sync_api.push(url, store=store, artifacts=not no_artifacts, dry_run=dry_run, progress=line)
                line.end()
                click.echo(result.summary())
                failures = 0
                wait = interval
            except LiteTrackerException as e:
                line.end()
                if interval is None:
                    raise
                failures += 1
                wait = min(interval, 5.0 * 2 ** min(failures - 1, 16))  # back off, then keep the interval
                click.echo(f"lite-tracker: warning: push failed (attempt {failures}), retrying in {wait:.0f}s: {e}",
                           err=True)
            if wait is None:
                return
            time.sleep(wait)
    except KeyboardInterrupt:
        ctx.exit(130 if interval is None else 0)


@sync.command()
@_URL
@store_option
@click.option("--artifacts", is_flag=True,
              help="Download the pulled runs' artifacts now (default: read from the bucket on demand).")
@_DRY_RUN
@click.option("--as-of", metavar="VERSION|TIME",
              help="Pull the team's state at a version of the bucket's pushes table or an ISO 8601 time.")
@_QUIET
def pull(url: str, store: str | None, artifacts: bool, dry_run: bool, as_of: str | None, quiet: bool) -> None:
    """Merge what teammates pushed to a shared bucket into the local store.

    \b
    Example:
      lite-tracker sync pull s3://team-bucket/tracking --store runs.duckdb
    """
    from .. import sync as sync_api

    line = ProgressLine(not quiet, _sync_progress)
    try:
        result = sync_api.pull(url, store=store, artifacts=artifacts, dry_run=dry_run, progress=line, as_of=as_of)
    finally:
        line.end()
    click.echo(result.summary())


@sync.command()
@_URL
def optimize(url: str) -> None:
    """Compact the bucket's small files (metrics sorted by run and key) and checkpoint the logs; safe while
    others push.

    \b
    Example:
      lite-tracker sync optimize s3://team-bucket/tracking
    """
    from .. import sync as sync_api

    for table, got in sync_api.optimize(url).items():
        click.echo(f"{table}: {got['files_removed']} files compacted into {got['files_added']}")


@sync.command()
@_URL
@click.option("--retain-hours", type=click.FloatRange(min=0), default=168.0, show_default=True,
              help="Keep what snapshots of this many hours need (0 only when nobody pushes).")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def vacuum(url: str, retain_hours: float, dry_run: bool) -> None:
    """Delete files no snapshot of the retention window needs (replaced files, leftovers of pushes).

    \b
    Example:
      lite-tracker sync vacuum s3://team-bucket/tracking --dry-run
    """
    from .. import sync as sync_api

    removed = sync_api.vacuum(url, retain_hours=retain_hours, dry_run=dry_run)
    click.echo(f"{'would delete' if dry_run else 'deleted'} {len(removed)} files")


@sync.command()
@_URL
@click.option("--to", "target", metavar="URL", help="Write the Delta tables under this prefix (default: in place).")
@click.option("--dry-run", is_flag=True, help="Only report what would be migrated.")
@_QUIET
def migrate(url: str, target: str | None, dry_run: bool, quiet: bool) -> None:
    """Move a bucket of the first format (Parquet and commit objects) to Delta Lake tables, in place or to
    --to.

    \b
    Example:
      lite-tracker sync migrate s3://team-bucket/tracking --dry-run
    """
    from .. import sync as sync_api

    line = ProgressLine(not quiet, _sync_progress)
    try:
        result = sync_api.migrate(url, target, dry_run=dry_run, progress=line)
    finally:
        line.end()
    click.echo(result.summary())
