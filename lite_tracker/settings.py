"""Resolve the tracking URI, artifact root and tuning knobs once into a frozen :class:`Settings`.

Order for the store: explicit argument (``set_tracking_uri`` / ``MlflowClient(tracking_uri)``), then
``LITE_TRACKER_URI``, then ``MLFLOW_TRACKING_URI`` when it names a local path or a ``file:``/``duckdb:``
URI, then ``./lite_tracker.duckdb``. Artifact root: explicit, ``LITE_TRACKER_ARTIFACT_ROOT``,
``MLFLOW_DEFAULT_ARTIFACT_ROOT``, then ``<store>.d/artifacts``.
"""

from __future__ import annotations

import getpass
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from .errors import InvalidParameterValue

DEFAULT_STORE = "lite_tracker.duckdb"
TRACKING_URI_ENV = "LITE_TRACKER_URI"  # set by ``set_tracking_uri`` so that clients and subprocesses see it
_SERVER_SCHEMES = ("http", "https", "databricks", "databricks-uc", "uc")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


@dataclass(frozen=True)
class Settings:
    """Everything a store needs to know, resolved once and passed down.

    Example:
        >>> s = resolve_settings("runs/exp.duckdb", env={})
        >>> s.store_path.name
        'exp.duckdb'
    """

    store_path: Path
    artifact_root: str
    flush_interval: float = 0.5
    flush_max_points: int = 10_000
    compact_interval: float = 1.0
    lock_timeout: float = 30.0
    remote_uri: str | None = None  # set for a read-only client of a shared bucket (s3://bucket/prefix)

    @property
    def tracking_uri(self) -> str:
        return self.remote_uri or str(self.store_path)


def current_user() -> str:
    """The OS user name recorded on runs and registry transitions ("unknown" if the OS has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameterValue(f"{name}={raw!r} is not a number of seconds.") from None
    if not 0 < value <= 3600:
        raise InvalidParameterValue(f"{name}={raw!r} must be between 0 and 3600 seconds.")
    return value


def store_path_from_uri(uri: str) -> Path:
    """The DuckDB file a tracking URI names (a folder gets ``lite_tracker.duckdb`` inside it)."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidParameterValue(f"Invalid tracking URI {uri!r}: expected a path such as ./{DEFAULT_STORE}.")
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower() or (uri.lower() if uri.lower() in _SERVER_SCHEMES else "")
    if scheme in _SERVER_SCHEMES:
        raise InvalidParameterValue(
            f"Tracking URI {uri!r} names a tracking server. lite_tracker needs no server: give a local path "
            f"such as ./{DEFAULT_STORE} (or file:/path, duckdb:/path); to share runs with a team, use "
            "`lite-tracker sync push s3://bucket/prefix`."
        )
    if scheme in _DATABASE_SCHEMES:
        raise InvalidParameterValue(
            f"Tracking URI {uri!r} names a {scheme} database; lite_tracker keeps its own embedded store. "
            f"Give a local path such as ./{DEFAULT_STORE}."
        )
    if scheme in ("file", "duckdb"):
        path = unquote(parsed.netloc + parsed.path) if parsed.netloc not in ("", "localhost") else unquote(parsed.path)
    elif len(scheme) > 1:
        raise InvalidParameterValue(
            f"Unsupported tracking URI scheme {scheme!r} in {uri!r}: use a local path, file: or duckdb:."
        )
    else:
        path = uri  # plain path (a one-letter "scheme" is a Windows drive)
    p = Path(path).expanduser()
    if p.suffix != ".duckdb" and not p.is_file():
        p = p / DEFAULT_STORE
    return p.absolute()


class TrackingUriIgnoredWarning(UserWarning):
    """``MLFLOW_TRACKING_URI`` names a server, database or bucket, which lite_tracker does not log to;
    the warning says which store the runs go to instead (issued once per value and process)."""


_warned_uris: set[str] = set()


def _without_secrets(uri: str) -> str:
    """``uri`` without user, password, query or fragment: safe to show in a message."""
    parsed = urlparse(uri)
    if not parsed.netloc:
        return f"{parsed.scheme}:" if parsed.scheme else "<unparsable URI>"
    host = parsed.hostname or ""
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


def _warn_ignored(mlflow_uri: str) -> None:
    if mlflow_uri in _warned_uris:
        return
    _warned_uris.add(mlflow_uri)
    warnings.warn(
        f"MLFLOW_TRACKING_URI={_without_secrets(mlflow_uri)!r} is ignored: lite_tracker logs to a local store, "
        f"not to a tracking server. Runs go to {Path(DEFAULT_STORE).absolute()} instead. Set LITE_TRACKER_URI "
        "(or call set_tracking_uri) to a local path to choose the store; share runs with "
        "`lite-tracker sync push s3://bucket/prefix`.",
        TrackingUriIgnoredWarning,
        stacklevel=3,
    )


def _is_local_uri(uri: str) -> bool:
    scheme = urlparse(uri).scheme.lower()
    return scheme in ("", "file", "duckdb") or len(scheme) == 1


def tracking_uri_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The tracking URI the environment names: ``LITE_TRACKER_URI``, then a local ``MLFLOW_TRACKING_URI``
    (any other ``MLFLOW_TRACKING_URI`` is ignored with a :class:`TrackingUriIgnoredWarning`)."""
    env = os.environ if env is None else env
    uri = env.get(TRACKING_URI_ENV)
    if uri:
        return uri
    mlflow_uri = env.get("MLFLOW_TRACKING_URI", "")
    if not mlflow_uri:
        return None
    if _is_local_uri(mlflow_uri):
        return mlflow_uri
    _warn_ignored(mlflow_uri)
    return None


def resolve_settings(tracking_uri: str | None = None, artifact_root: str | None = None,
                     env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from explicit values, then the environment, then defaults."""
    env = os.environ if env is None else env
    store = store_path_from_uri(tracking_uri or tracking_uri_from_env(env) or DEFAULT_STORE)
    root = artifact_root or env.get("LITE_TRACKER_ARTIFACT_ROOT") or env.get("MLFLOW_DEFAULT_ARTIFACT_ROOT")
    if root:
        root = _normalize_artifact_root(root)
    else:
        root = str(store.with_name(store.name + ".d") / "artifacts")
    return Settings(
        store_path=store,
        artifact_root=root,
        flush_interval=_float_env(env, "LITE_TRACKER_FLUSH_INTERVAL", 0.5),
        compact_interval=_float_env(env, "LITE_TRACKER_COMPACT_INTERVAL", 1.0),
        lock_timeout=_float_env(env, "LITE_TRACKER_LOCK_TIMEOUT", 30.0),
    )


def _normalize_artifact_root(root: str) -> str:
    parsed = urlparse(root)
    if parsed.scheme == "file":
        return str(Path(unquote(parsed.path)).absolute())
    if len(parsed.scheme) > 1:
        return root.rstrip("/")
    return str(Path(root).expanduser().absolute())
