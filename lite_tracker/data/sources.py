"""Where a dataset came from, as MLflow's dataset sources: a local path, a URL, an object-store URI, or
the code that built it in memory. A source is stored with the dataset as its type and a JSON dict."""

from __future__ import annotations

import abc
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterValue
from ..settings import current_user

# Object stores whose URIs are recorded as they are, with the scheme as the source type (MLflow's
# artifact dataset sources).
_URI_SCHEMES = ("s3", "s3a", "s3n", "gs", "wasbs", "abfss", "hdfs", "viewfs", "ftp", "sftp", "dbfs")


class DatasetSource(abc.ABC):
    """Where a dataset came from: a ``source_type`` plus what :meth:`to_dict` returns."""

    source_type = ""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON-able description of the source."""

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON (what is stored with the run's input)."""
        return json.dumps(self.to_dict())

    def _get_source_type(self) -> str:
        """MLflow's name for the source type."""
        return self.source_type

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash((self.source_type, self.to_json()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


class LocalArtifactDatasetSource(DatasetSource):
    """A local file or folder (``source_type`` ``"local"``)."""

    source_type = "local"

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri}


class URIDatasetSource(DatasetSource):
    """An object-store URI such as ``s3://bucket/data.parquet`` (``source_type`` is its scheme)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.source_type = uri.split("://", 1)[0].lower()

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri}


class HTTPDatasetSource(DatasetSource):
    """An ``http(s)://`` URL (``source_type`` ``"http"``)."""

    source_type = "http"

    def __init__(self, url: str) -> None:
        self.url = url

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url}


class CodeDatasetSource(DatasetSource):
    """Data built in memory by a program, described by the program's tags (``source_type`` ``"code"``)."""

    source_type = "code"

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = dict(tags)

    def to_dict(self) -> dict[str, Any]:
        return {"tags": self.tags}


def code_source() -> CodeDatasetSource:
    """The source of data given with no source: the running program (user, script, kind)."""
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    script = Path(main).absolute() if main and main != "-c" and Path(main).exists() else None
    return CodeDatasetSource({
        "mlflow.user": current_user(),
        "mlflow.source.name": str(script) if script else (main or "<console>"),
        "mlflow.source.type": "NOTEBOOK" if "ipykernel" in sys.modules else "LOCAL",
    })


def resolve_source(source: Any) -> DatasetSource:
    """A :class:`DatasetSource` for ``source``: one already, a path, or a URI.

    Raises:
        InvalidParameterValue: ``source`` is neither, or names a URI scheme with no known source.
    """
    if isinstance(source, DatasetSource):
        return source
    if isinstance(source, Path):
        return LocalArtifactDatasetSource(str(source))
    if not isinstance(source, str) or not source:
        raise InvalidParameterValue(
            f"A dataset source must be a path, a URI or a DatasetSource, got {type(source).__name__}.")
    if "://" not in source:
        return LocalArtifactDatasetSource(source)
    scheme = source.split("://", 1)[0].lower()
    if scheme == "file":
        return LocalArtifactDatasetSource(source)
    if scheme in ("http", "https"):
        return HTTPDatasetSource(source)
    if scheme in _URI_SCHEMES:
        return URIDatasetSource(source)
    raise InvalidParameterValue(
        f"Could not find a dataset source for {source!r}: use a local path, an http(s) URL or a URI with one of "
        f"the schemes {', '.join(_URI_SCHEMES)}.")


def source_from_json(source_type: str, source_json: str) -> DatasetSource:
    """Rebuild a stored source (the reverse of ``source_type`` plus :meth:`DatasetSource.to_json`)."""
    try:
        data = json.loads(source_json)
    except ValueError as e:
        raise InvalidParameterValue(f"The dataset source is not JSON: {source_json[:200]!r}") from e
    if source_type == "code":
        return CodeDatasetSource(data.get("tags", {}))
    if source_type == "http":
        return HTTPDatasetSource(data["url"])
    if source_type == "local":
        return LocalArtifactDatasetSource(data["uri"])
    if "uri" in data:
        return URIDatasetSource(data["uri"])
    raise InvalidParameterValue(f"Unknown dataset source type {source_type!r}.")
