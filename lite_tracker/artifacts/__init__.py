"""MLflow's ``mlflow.artifacts`` module: download what a run or model URI names."""

from __future__ import annotations

from ..errors import InvalidParameterValue
from ..registry.uri import download
from ..store.artifacts import UnsafePathWarning, check_artifact_path
from ..tracking.client import MlflowClient
from ..tracking.fluent import _client

__all__ = ["UnsafePathWarning", "download_artifacts"]


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None,
                       dst_path: str | None = None, tracking_uri: str | None = None) -> str:
    """Download an artifact file or folder to a local path, as ``mlflow.artifacts.download_artifacts``.

    Args:
        artifact_uri: ``runs:/<run_id>/<path>``, ``models:/<name>/<version|stage|latest>``,
            ``models:/<name>@<alias>``, a local path or an fsspec URL. Not together with ``run_id``.
        run_id: A run whose artifact ``artifact_path`` (default: all of them) to download.
        artifact_path: Path inside the run's artifacts (with ``run_id``).
        dst_path: Local folder to download into (default: a new temp folder).
        tracking_uri: The store to resolve runs and models in (default: the current one).

    Returns:
        The local path of the downloaded file or folder.

    Raises:
        LiteTrackerException: RESOURCE_DOES_NOT_EXIST for an unknown run, model, version, stage, alias
            or artifact; INVALID_PARAMETER_VALUE for a bad combination of arguments.

    Example:
        >>> download_artifacts("models:/iris@champion", dst_path="out")  # doctest: +SKIP
        'out/model'
    """
    if (artifact_uri is None) == (run_id is None):
        raise InvalidParameterValue("Give exactly one of artifact_uri or run_id.")
    if artifact_uri is not None and artifact_path is not None:
        raise InvalidParameterValue("artifact_path goes with run_id; put the path in artifact_uri instead.")
    uri = artifact_uri if artifact_uri is not None else f"runs:/{run_id}/{check_artifact_path(artifact_path)}"
    client = MlflowClient(tracking_uri) if tracking_uri is not None else _client()
    return download(client, uri, dst_path)
