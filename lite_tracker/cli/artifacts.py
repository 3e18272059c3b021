"""``lite-tracker artifacts list|download``, as MLflow's ``mlflow artifacts`` (``runs:/`` and ``models:/`` URIs)."""

from __future__ import annotations

import click

from ._common import json_option, print_json, print_table, store_option, store_uri

_RUN_ID = click.option("--run-id", "-r", metavar="ID", help="The run whose artifacts to use.")
_PATH = click.option("--artifact-path", "-a", metavar="PATH", help="A path inside the run's artifacts (with --run-id).")
_URI = click.option("--artifact-uri", "-u", metavar="URI",
                    help="runs:/RUN_ID/PATH, models:/NAME/VERSION|STAGE|latest or models:/NAME@ALIAS "
                         "(instead of --run-id).")


def _one_location(run_id: str | None, artifact_path: str | None, artifact_uri: str | None) -> None:
    """Refuse a bad combination of the location options in their own names."""
    if (run_id is None) == (artifact_uri is None):
        raise click.UsageError("Give exactly one of --run-id or --artifact-uri.")
    if artifact_path is not None and artifact_uri is not None:
        raise click.UsageError("--artifact-path goes with --run-id; put the path in --artifact-uri instead.")


@click.group()
def artifacts() -> None:
    """List and download artifacts of runs and models.

    As MLflow's `mlflow artifacts`: runs:/ and models:/ URIs, or a run id and a path.

    \b
    Example:
      lite-tracker artifacts download --artifact-uri models:/iris@champion -d ./model
    """


@artifacts.command(name="list")
@_RUN_ID
@_PATH
@_URI
@store_option
@json_option
def list_artifacts(run_id: str | None, artifact_path: str | None, artifact_uri: str | None, store: str | None,
                   as_json: bool) -> None:
    """List the files and folders directly under an artifact location.

    \b
    Example:
      lite-tracker artifacts list --run-id 0190f1a2b3c4d5e6f708192a3b4c5d6e --artifact-path model
    """
    from ..artifacts import list_artifacts as list_files

    _one_location(run_id, artifact_path, artifact_uri)
    found = list_files(artifact_uri, run_id, artifact_path, tracking_uri=store_uri(store))
    if as_json:
        print_json([{"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size} for f in found])
        return
    print_table(["path", "is_dir", "size"], [(f.path, f.is_dir, f.file_size) for f in found])


@artifacts.command()
@_RUN_ID
@_PATH
@_URI
@click.option("--dst-path", "-d", metavar="DIR", help="Local folder to download into (default: a new temp folder).")
@store_option
def download(run_id: str | None, artifact_path: str | None, artifact_uri: str | None, dst_path: str | None,
             store: str | None) -> None:
    """Download an artifact file or folder and print its local path.

    \b
    Example:
      lite-tracker artifacts download --run-id 0190f1a2b3c4d5e6f708192a3b4c5d6e --artifact-path summary.json -d .
    """
    from ..artifacts import download_artifacts

    _one_location(run_id, artifact_path, artifact_uri)
    click.echo(download_artifacts(artifact_uri, run_id, artifact_path, dst_path, tracking_uri=store_uri(store)))
