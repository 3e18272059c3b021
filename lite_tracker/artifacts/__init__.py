"""MLflow's ``mlflow.artifacts`` module: download, list and load what a run or model URI names."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..entities import FileInfo
from ..errors import InvalidParameterValue
from ..registry.uri import download, parse_runs_uri
from ..store.artifacts import UnsafePathWarning, check_artifact_path
from ..tracking.client import MlflowClient
from ..tracking.fluent import _client

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["UnsafePathWarning", "download_artifacts", "list_artifacts", "load_dict", "load_image", "load_text"]


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


def list_artifacts(artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None,
                   tracking_uri: str | None = None) -> list[FileInfo]:
    """The files and folders directly under an artifact location, as ``mlflow.artifacts.list_artifacts``.

    Args:
        artifact_uri: ``runs:/<run_id>/<path>`` (or ``runs:/<run_id>`` for the root). Not with ``run_id``.
        run_id: A run whose artifacts under ``artifact_path`` (default: the root) to list.
        artifact_path: Path inside the run's artifacts (with ``run_id``).
        tracking_uri: The store the run is in (default: the current one).

    Returns:
        :class:`~lite_tracker.entities.FileInfo` entries, paths relative to the run's artifact root.

    Example:
        >>> [f.path for f in list_artifacts(run_id=run_id)]  # doctest: +SKIP
        ['config.json', 'model']
    """
    if (artifact_uri is None) == (run_id is None):
        raise InvalidParameterValue("Give exactly one of artifact_uri or run_id.")
    if artifact_uri is not None:
        if artifact_path is not None:
            raise InvalidParameterValue("artifact_path goes with run_id; put the path in artifact_uri instead.")
        run_id, artifact_path = parse_runs_uri(artifact_uri)
    client = MlflowClient(tracking_uri) if tracking_uri is not None else _client()
    return client.list_artifacts(run_id, check_artifact_path(artifact_path) or None)  # type: ignore[arg-type]


def _local_copy(artifact_uri: str, folder: str) -> Path:
    path = Path(download_artifacts(artifact_uri, dst_path=folder))
    if not path.is_file():
        raise InvalidParameterValue(f"{artifact_uri!r} names a folder, not a file.")
    return path


def load_text(artifact_uri: str) -> str:
    """The text of an artifact file, e.g. ``load_text("runs:/<run_id>/notes.txt")``."""
    with tempfile.TemporaryDirectory() as folder:
        return _local_copy(artifact_uri, folder).read_text(encoding="utf-8")


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """The dict of a JSON (or YAML) artifact file, e.g. ``load_dict("runs:/<run_id>/config.json")``.

    Raises:
        InvalidParameterValue: the file is neither valid JSON nor YAML.
    """
    import yaml

    text = load_text(artifact_uri)
    try:
        return json.loads(text)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        try:
            return yaml.safe_load(text)  # type: ignore[no-any-return]
        except yaml.YAMLError as e:
            raise InvalidParameterValue(f"{artifact_uri!r} is neither valid JSON nor valid YAML: {e}") from e


def load_image(artifact_uri: str) -> Image:
    """The PIL image of an image artifact, e.g. ``load_image("runs:/<run_id>/images/x.png")``."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    with tempfile.TemporaryDirectory() as folder:
        path = _local_copy(artifact_uri, folder)
        try:
            with PILImage.open(path) as image:
                image.load()
                return image
        except UnidentifiedImageError as e:
            raise InvalidParameterValue(f"{artifact_uri!r} is not an image file Pillow can read.") from e
