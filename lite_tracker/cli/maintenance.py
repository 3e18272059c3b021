"""``lite-tracker gc`` and ``lite-tracker doctor``: parse, call :mod:`lite_tracker.store.gc` or
:mod:`lite_tracker.store.doctor`, render."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from ._common import existing_store, json_option, print_json, print_table, store_option


def _ids(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.command("gc")
@click.option("--older-than", metavar="AGE",
              help="Only what was deleted at least this long ago: 30d, 8h, 1d2h3m4s (default: any age).")
@click.option("--run-ids", metavar="IDS", help="Comma-separated ids of deleted runs (default: every deleted run).")
@click.option("--experiment-ids", metavar="IDS",
              help="Comma-separated ids of deleted experiments, purged with every run in them "
                   "(default: every deleted experiment).")
@click.option("--yes", "--force", "yes", is_flag=True,
              help="Delete for good. Without it, gc is a dry run that lists what would go.")
@store_option
@json_option
def gc(older_than: str | None, run_ids: str | None, experiment_ids: str | None, yes: bool, store: str | None,
       as_json: bool) -> None:
    """Permanently delete soft-deleted runs and experiments: their params, tags, metrics and artifacts.

    A dry run by default: it lists what would go; --yes deletes it. Files of live registered model
    versions stay, and those versions keep working. Safe while other processes log to the store.

    \b
    Example:
      lite-tracker gc --older-than 30d --yes
    """
    from ..store.gc import collect_garbage, parse_older_than
    from ..tracking.client import MlflowClient

    age = parse_older_than(older_than) if older_than is not None else None
    client = MlflowClient(existing_store(store))
    client.flush()
    result = collect_garbage(client._store, age, _ids(run_ids), _ids(experiment_ids), dry_run=not yes)
    if as_json:
        print_json(result.to_dict())
        return
    if result.experiments:
        print_table(("experiment id", "name", "deleted"),
                    [(e.experiment_id, e.name, _when(e.deleted_time)) for e in result.experiments],
                    title="Experiments" + (" to delete" if result.dry_run else " deleted"))
    if result.runs:
        print_table(("run id", "experiment id", "name", "deleted", "kept for the registry"),
                    [(r.run_id, r.experiment_id, r.run_name, _when(r.deleted_time), ", ".join(r.kept_artifacts))
                     for r in result.runs],
                    title="Runs" + (" to delete" if result.dry_run else " deleted"))
    what = f"{len(result.runs)} runs and {len(result.experiments)} experiments"
    if not (result.runs or result.experiments):
        click.echo("Nothing to delete: no deleted runs or experiments match.")
    elif result.dry_run:
        click.echo(f"Dry run: {what} would be deleted for good. Run again with --yes to delete them.")
    else:
        click.echo(f"Deleted {what} for good ({sum(result.rows.values())} rows, "
                   f"{result.artifact_files} artifact files).")


@click.command("doctor")
@click.option("--verify", is_flag=True, help="Also check every invariant of the store's rows (reads the whole store).")
@click.option("--connect", "connect_s3", is_flag=True, help="Also contact the S3 artifact root (default: only read "
                                                            "the settings).")
@store_option
@json_option
def doctor(verify: bool, connect_s3: bool, store: str | None, as_json: bool) -> None:
    """Check the store and report one line per check: OK, WARN or FAIL, and what to do.

    Checks the store file (opens, format version, not held by another program), the sidecar folder and
    its locks, pending and quarantined segments, disk space, the artifact root and S3 settings, and a
    read-only folder. --verify checks every invariant of the rows too. Changes nothing. Exits 1 if a
    check fails.

    \b
    Example:
      lite-tracker doctor --verify --store runs/lite_tracker.duckdb
    """
    from ..settings import resolve_settings
    from ..store.doctor import FAIL, diagnose

    checks = diagnose(resolve_settings(store), verify=verify, connect_s3=connect_s3)
    healthy = all(c.status != FAIL for c in checks)
    if as_json:
        print_json({"healthy": healthy, "checks": [c.to_dict() for c in checks]})
    else:
        for c in checks:
            click.echo(f"{c.status:<5} {c.name}: {c.message}")
    if not healthy:
        raise SystemExit(1)
