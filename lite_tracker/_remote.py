"""Remote filesystems (``s3://`` through s3fs) for artifacts and sync: one place that resolves the
endpoint, tunes retries and multipart uploads, and turns S3 failures into :class:`SyncError` messages
that never contain credentials.

Credentials come from the usual AWS chain (environment, shared config and credentials files, instance
roles); lite_tracker never stores them. The endpoint comes from ``LITE_TRACKER_S3_ENDPOINT_URL``, then
``MLFLOW_S3_ENDPOINT_URL``, then ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL`` (none: AWS itself).
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST, InvalidParameterValue, SyncError

ENDPOINT_VARIABLES = ("LITE_TRACKER_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                      "AWS_ENDPOINT_URL")
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                         "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")
# Files of at least twice this size go up as a multipart upload of parts this big (S3's minimum is 5 MiB).
MULTIPART_CHUNK = 8 * 2**20
REMOTE_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "memory://")

_cache: dict[tuple[str, ...], Any] = {}
_cache_lock = threading.Lock()


def _reset_after_fork() -> None:
    """A forked child makes its own filesystems: fsspec's async ones refuse to run after fork."""
    global _cache_lock
    _cache_lock = threading.Lock()
    _cache.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def is_remote(uri: str) -> bool:
    """True for a URL lite_tracker reads and writes through fsspec (``s3://bucket/prefix`` ...)."""
    return isinstance(uri, str) and uri.lower().startswith(REMOTE_SCHEMES)


def endpoint_url(env: Mapping[str, str] | None = None) -> str | None:
    """The S3 endpoint to use, from the environment (None means AWS's own endpoints)."""
    env = os.environ if env is None else env
    for name in ENDPOINT_VARIABLES:
        if env.get(name):
            return env[name]
    return None


def redact_url(url: str | None) -> str:
    """A URL safe to show: any ``user:password@`` part is removed."""
    if not url:
        return "the default AWS endpoint"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def filesystem(url: str, env: Mapping[str, str] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path inside it (``bucket/prefix`` for S3).

    S3 filesystems are cached per endpoint and per credential set (a hash, never the values), with
    listing caches off, so a change of credentials or a teammate's new files are seen at once.
    """
    env = os.environ if env is None else env
    scheme = url.split("://", 1)[0].lower()
    if scheme not in ("s3", "s3a"):
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(url)
        except ImportError as e:
            raise InvalidParameterValue(f"{scheme}:// URLs need an extra package ({e}).") from e
        return fs, str(path)
    try:
        import s3fs
    except ImportError as e:
        raise InvalidParameterValue(
            "s3:// URLs need the s3 extra: pip install 'lite-tracker[s3]'."
        ) from e
    endpoint = endpoint_url(env)
    creds = hashlib.sha256("\0".join(env.get(n, "") for n in _CREDENTIAL_VARIABLES).encode()).hexdigest()
    key = (endpoint or "", creds)
    with _cache_lock:
        fs = _cache.get(key)
        if fs is None:
            fs = s3fs.S3FileSystem(
                endpoint_url=endpoint,
                use_listings_cache=False,
                skip_instance_cache=True,
                config_kwargs={"connect_timeout": 5, "read_timeout": 60,
                               "retries": {"max_attempts": 3, "mode": "standard"}},
            )
            _cache[key] = fs
    path = url.split("://", 1)[1].strip("/")
    if not path:
        raise InvalidParameterValue(f"Invalid S3 URL {url!r}: expected s3://bucket or s3://bucket/prefix.")
    return fs, path


def put_file(fs: Any, local: str, remote: str) -> None:
    """Upload one file: a single PUT when small, a concurrent multipart upload when large."""
    fs.put_file(local, remote, chunksize=MULTIPART_CHUNK)


def lost_create_race(error: BaseException) -> bool:
    """True if a create-only write (``If-None-Match: *``) failed because the object exists.

    s3fs raises ``FileExistsError`` when the server names the condition (AWS, moto) and a plain
    ``OSError(EINVAL)`` from a 412 ``PreconditionFailed`` when it does not (SeaweedFS).
    """
    if isinstance(error, FileExistsError):
        return True
    cause = error.__cause__
    response = getattr(cause, "response", None)
    if isinstance(error, OSError) and isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code == "PreconditionFailed" or (status == 412 and error.errno == errno.EINVAL)
    return False


def transfer_errors() -> tuple[type[BaseException], ...]:
    """What a remote filesystem call raises when the transfer fails: ``OSError`` and ``ValueError`` (s3fs's
    translation of S3's answers), botocore's errors (a refused connection, a timeout) and aiohttp's (a
    connection dropped in the middle of a body)."""
    try:
        import aiohttp
        import botocore.exceptions
    except ImportError:  # no s3 extra: the other fsspec filesystems raise OSError and ValueError
        return (OSError, ValueError)
    return (OSError, ValueError, botocore.exceptions.BotoCoreError, aiohttp.ClientError)


def sync_error(error: BaseException, url: str, action: str) -> SyncError:
    """A :class:`SyncError` saying what failed and what to check, without credentials."""
    endpoint = redact_url(endpoint_url())
    bucket = url.split("://", 1)[-1].split("/", 1)[0]
    code, status = "", None
    response = getattr(error.__cause__, "response", None) or getattr(error, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code") or "")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    text = f"{type(error).__name__} {code} {error}".lower()
    error_code = None
    # The status comes from the answer, never from the text: a port or request id may contain "403".
    if isinstance(error, PermissionError) or status == 403 or any(
        w in text for w in ("accessdenied", "invalidaccesskeyid", "signaturedoesnotmatch", "forbidden",
                            "nocredentials", "unable to locate credentials")
    ):
        hint = (f"access denied by {endpoint} while {action} {url}: check the credentials "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and the bucket policy")
        error_code = PERMISSION_DENIED
    elif "nosuchbucket" in text or ("bucket" in text and "not exist" in text):
        hint = f"bucket {bucket!r} does not exist at {endpoint} (while {action} {url}); create it first"
        error_code = RESOURCE_DOES_NOT_EXIST
    elif any(w in text for w in ("payload is not completed", "server disconnected", "connection reset",
                                 "connection was closed")):
        hint = (f"the connection to the S3 endpoint {endpoint} broke while {action} {url}: check that the "
                "server is up, then try again")
    elif any(w in text for w in ("connect", "endpoint", "timeout", "timed out", "name or service",
                                 "cannot connect", "resolve")):
        hint = (f"cannot reach the S3 endpoint {endpoint} while {action} {url}: check "
                "LITE_TRACKER_S3_ENDPOINT_URL / MLFLOW_S3_ENDPOINT_URL / AWS_ENDPOINT_URL and the network")
    elif isinstance(error, FileNotFoundError):
        hint = f"not found at {endpoint} while {action} {url} ({_safe(str(error))})"
    else:
        hint = f"{action} {url} at {endpoint} failed: {type(error).__name__}: {_safe(str(error))[:300]}"
    return SyncError(hint[0].upper() + hint[1:] + ".", error_code)


def _safe(text: str) -> str:
    """Remove any credential value that might be echoed in a server or client message."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text
