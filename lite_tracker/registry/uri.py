"""Model URIs: ``runs:/<run_id>/<path>`` and ``models:/<name>/<version|stage|latest>`` or
``models:/<name>@<alias>``, resolved to the artifact location that holds the model.

Any other string (a local path, ``file://`` or an fsspec URL such as ``s3://``) is a location already.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Protocol

from ..entities import Run
from ..entities.model_registry import ModelVersion
from ..errors import InvalidParameterValue, ResourceNotFound
from ..store.artifacts import check_artifact_path


class ModelLookup(Protocol):
    """What resolving a model URI needs of a client (``MlflowClient`` has it; the registry is below it)."""

    def get_run(self, run_id: str) -> Run: ...

    def get_model_version(self, name: str, version: str | int) -> ModelVersion: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]: ...

_MAX_HOPS = 10


@dataclass(frozen=True)
class ModelsUri:
    """A parsed ``models:/`` URI: exactly one of ``version``, ``stage``, ``alias`` or ``latest``."""

    name: str
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    latest: bool = False


def parse_models_uri(uri: str) -> ModelsUri:
    """Parse ``models:/<name>/<version>``, ``models:/<name>/<stage>``, ``models:/<name>/latest`` or
    ``models:/<name>@<alias>``.

    Args:
        uri: The URI.

    Returns:
        The parsed parts.

    Raises:
        InvalidParameterValue: ``uri`` is not a well-formed ``models:/`` URI.

    Example:
        >>> parse_models_uri("models:/iris@champion").alias
        'champion'
    """
    rule = ("Model registry URIs look like models:/<name>/<version>, models:/<name>/<stage>, "
            "models:/<name>/latest or models:/<name>@<alias>")
    if not uri.startswith("models:/"):
        raise InvalidParameterValue(f"Not a models:/ URI: {uri!r}. {rule}.")
    path = uri[len("models:/"):].lstrip("/")
    parts = path.split("/")
    if len(parts) == 1 and "@" in parts[0]:
        name, alias = parts[0].rsplit("@", 1)
        if name and alias:
            return ModelsUri(name, alias=alias)
    elif len(parts) == 2 and parts[0] and parts[1]:
        name, suffix = parts
        if suffix.isdigit():
            return ModelsUri(name, version=int(suffix))
        if suffix.lower() == "latest":
            return ModelsUri(name, latest=True)
        return ModelsUri(name, stage=suffix)
    raise InvalidParameterValue(f"Invalid model URI {uri!r}. {rule}.")


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """Split ``runs:/<run_id>/<path>`` into the run id and the (possibly empty) artifact path.

    Example:
        >>> parse_runs_uri("runs:/0123abcd/model")
        ('0123abcd', 'model')
    """
    path = uri[len("runs:/"):].lstrip("/") if uri.startswith("runs:/") else ""
    run_id, _, rel = path.partition("/")
    if not run_id:
        raise InvalidParameterValue(f"Invalid runs URI {uri!r}: expected runs:/<run_id>/<artifact path>.")
    return run_id, check_artifact_path(rel)


def model_version_for(client: ModelLookup, uri: ModelsUri) -> ModelVersion:
    """The registered version a ``models:/`` URI names (RESOURCE_DOES_NOT_EXIST naming what is missing)."""
    if uri.alias is not None:
        return client.get_model_version_by_alias(uri.name, uri.alias)
    if uri.version is not None:
        return client.get_model_version(uri.name, uri.version)
    if uri.latest:
        versions = client.get_latest_versions(uri.name)
        if not versions:
            raise ResourceNotFound(f"Registered model {uri.name!r} has no versions.")
        return max(versions, key=lambda mv: mv.version)
    stage = uri.stage
    found = client.get_latest_versions(uri.name, [stage] if stage is not None else None)
    if not found:
        raise ResourceNotFound(f"No versions of model with name {uri.name!r} and stage {stage!r} found.")
    return found[0]


def resolve(client: ModelLookup, uri: str, keep_unknown_runs: bool = False) -> tuple[str, str | None]:
    """The artifact location a model URI points to, and the run that produced it (if known).

    ``runs:/`` resolves through the run's artifact URI; ``models:/`` through the version's source
    (itself possibly a ``runs:/`` or ``models:/`` URI); anything else is returned as is. With
    ``keep_unknown_runs`` (registration: the registry does not own runs, as in MLflow), a ``runs:/`` URI
    of a run this store does not know is returned as is instead of raising RESOURCE_DOES_NOT_EXIST.
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterValue(f"A model URI must be a non-empty string, got {uri!r}.")
    run_id: str | None = None
    for _ in range(_MAX_HOPS):
        if uri.startswith("models:/"):
            mv = model_version_for(client, parse_models_uri(uri))
            run_id = run_id or mv.run_id
            if not mv.source:
                raise ResourceNotFound(f"Model version {mv.name} {mv.version} has no source location.")
            uri = mv.source
        elif uri.startswith("runs:/"):
            rid, rel = parse_runs_uri(uri)
            try:
                base = client.get_run(rid).info.artifact_uri.rstrip("/")
            except ResourceNotFound:
                if not keep_unknown_runs:
                    raise
                return uri, run_id or rid
            return (posixpath.join(base, rel) if rel else base), run_id or rid
        else:
            return uri, run_id
    raise InvalidParameterValue(f"Model URI {uri!r} points through more than {_MAX_HOPS} other URIs.")


def download(client: ModelLookup, uri: str, dst_path: str | None = None) -> str:
    """Copy what a ``runs:/``, ``models:/``, local or fsspec URI names to a local folder; return the
    local path of the copied file or folder (a new temp folder holds it unless ``dst_path`` is given)."""
    from ..store.artifacts import ArtifactRepository

    location = resolve(client, uri)[0].rstrip("/")
    parent, _, leaf = location.rpartition("/")
    if not leaf or (not parent and "://" not in location):
        parent, leaf = location, ""
    return ArtifactRepository(parent or "/").download_artifacts(leaf, dst_path)
