"""``lite-tracker sync push|pull|optimize|vacuum|migrate``: parse, call :mod:`lite_tracker.sync`, render."""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

from ..errors import InvalidParameterValue, LiteTrackerException
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


def _push(args: argparse.Namespace) -> int:
    """Push what is new in the local store (events and artifacts) to a shared bucket."""
    from .. import sync

    every = parse_interval(args.every) if args.every else None
    failures = 0
    try:
        while True:
            line = ProgressLine(not args.quiet, _sync_progress)
            try:
                result = sync.push(args.url, store=args.store, artifacts=not args.no_artifacts,
                                   dry_run=args.dry_run, progress=line)
                line.end()
                print(result.summary(), flush=True)
                failures = 0
                wait = every
            except LiteTrackerException as e:
                line.end()
                if every is None:
                    raise
                failures += 1
                wait = min(every, 5.0 * 2 ** min(failures - 1, 16))  # back off, then keep the interval
                print(f"lite-tracker: warning: push failed (attempt {failures}), retrying in {wait:.0f}s: {e}",
                      file=sys.stderr, flush=True)
            if wait is None:
                return 0
            time.sleep(wait)
    except KeyboardInterrupt:
        return 130 if every is None else 0


def _pull(args: argparse.Namespace) -> int:
    """Merge what teammates pushed to a shared bucket into the local store."""
    from .. import sync

    line = ProgressLine(not args.quiet, _sync_progress)
    try:
        result = sync.pull(args.url, store=args.store, artifacts=args.artifacts, dry_run=args.dry_run, progress=line,
                           as_of=args.as_of)
    finally:
        line.end()
    print(result.summary())
    return 0


def _optimize(args: argparse.Namespace) -> int:
    """Compact the bucket's small files (metrics sorted by run and key) and checkpoint the logs."""
    from .. import sync

    for table, got in sync.optimize(args.url).items():
        print(f"{table}: {got['files_removed']} files compacted into {got['files_added']}")
    return 0


def _vacuum(args: argparse.Namespace) -> int:
    """Delete files no snapshot of the retention window needs (replaced files, leftovers of pushes)."""
    from .. import sync

    removed = sync.vacuum(args.url, retain_hours=args.retain_hours, dry_run=args.dry_run)
    print(f"{'would delete' if args.dry_run else 'deleted'} {len(removed)} files")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    """Move a format-1 bucket (Parquet and commit objects) to Delta Lake tables, in place or to --to."""
    from .. import sync

    line = ProgressLine(not args.quiet, _sync_progress)
    try:
        result = sync.migrate(args.url, args.to, dry_run=args.dry_run, progress=line)
    finally:
        line.end()
    print(result.summary())
    return 0


def add_sync_commands(sub: Any, store_help: str) -> None:
    """Add ``sync push|pull|optimize|vacuum|migrate`` to the ``lite-tracker`` parser."""
    sync = sub.add_parser("sync", help="share runs through a bucket (S3, MinIO, ...): push, pull, upkeep",
                          description="Share runs through a bucket: push this store's new data, pull teammates'. "
                                      "Endpoint: LITE_TRACKER_S3_ENDPOINT_URL, MLFLOW_S3_ENDPOINT_URL or "
                                      "AWS_ENDPOINT_URL(_S3); credentials: the usual AWS variables or profile.")
    actions = sync.add_subparsers(dest="sync_command", required=True)
    push = actions.add_parser("push", help="push new runs, metrics and artifacts to s3://bucket/prefix",
                              description=_push.__doc__)
    push.add_argument("url", help="bucket URL, e.g. s3://team-bucket/tracking")
    push.add_argument("--store", help=store_help)
    push.add_argument("--every", metavar="INTERVAL", help="keep pushing at this interval (e.g. 30s, 5m, 1h) "
                                                          "until interrupted; failures are retried")
    push.add_argument("--dry-run", action="store_true", help="only report what would be uploaded")
    push.add_argument("--no-artifacts", action="store_true", help="push run data only, no artifact files")
    push.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    push.set_defaults(func=_push)
    pull = actions.add_parser("pull", help="merge teammates' pushed runs from s3://bucket/prefix",
                              description=_pull.__doc__)
    pull.add_argument("url", help="bucket URL, e.g. s3://team-bucket/tracking")
    pull.add_argument("--store", help=store_help)
    pull.add_argument("--artifacts", action="store_true",
                      help="download the pulled runs' artifacts now (default: read from the bucket on demand)")
    pull.add_argument("--dry-run", action="store_true", help="only report what would be downloaded")
    pull.add_argument("--as-of", metavar="VERSION|TIME",
                      help="pull the team's state at a version of the bucket's pushes table or an ISO 8601 time")
    pull.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    pull.set_defaults(func=_pull)
    optimize = actions.add_parser("optimize", help="compact the bucket's small files; safe while others push",
                                  description=_optimize.__doc__)
    optimize.add_argument("url", help="bucket URL, e.g. s3://team-bucket/tracking")
    optimize.set_defaults(func=_optimize)
    vacuum = actions.add_parser("vacuum", help="delete files no recent snapshot needs", description=_vacuum.__doc__)
    vacuum.add_argument("url", help="bucket URL, e.g. s3://team-bucket/tracking")
    vacuum.add_argument("--retain-hours", type=float, default=168.0,
                        help="keep what snapshots of this many hours need (default 168; 0 only when nobody pushes)")
    vacuum.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    vacuum.set_defaults(func=_vacuum)
    migrate = actions.add_parser("migrate", help="move a format-1 bucket to Delta Lake tables",
                                 description=_migrate.__doc__)
    migrate.add_argument("url", help="bucket URL, e.g. s3://team-bucket/tracking")
    migrate.add_argument("--to", metavar="URL", help="write the Delta tables under this prefix (default: in place)")
    migrate.add_argument("--dry-run", action="store_true", help="only report what would be migrated")
    migrate.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    migrate.set_defaults(func=_migrate)
