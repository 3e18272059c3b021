"""One exception tree for lite_tracker, with MLflow's error-code names.

Every public call that rejects its input raises a :class:`LiteTrackerException` (also exported as
``MlflowException``) whose ``error_code`` uses MLflow's names, so code written against MLflow catches
the same things. Subclasses also inherit the matching builtin (``ValueError``, ``LookupError``, ...).
"""

from __future__ import annotations

INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_STATE = "INVALID_STATE"
BAD_REQUEST = "BAD_REQUEST"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
PERMISSION_DENIED = "PERMISSION_DENIED"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"

_HTTP_STATUS = {
    INTERNAL_ERROR: 500,
    INVALID_PARAMETER_VALUE: 400,
    BAD_REQUEST: 400,
    INVALID_STATE: 400,
    RESOURCE_DOES_NOT_EXIST: 404,
    RESOURCE_ALREADY_EXISTS: 400,
    TEMPORARILY_UNAVAILABLE: 503,
    PERMISSION_DENIED: 403,
    ENDPOINT_NOT_FOUND: 404,
    NOT_IMPLEMENTED: 501,
    RESOURCE_EXHAUSTED: 429,
}


class LiteTrackerException(Exception):
    """Base of every error lite_tracker raises on purpose.

    Args:
        message: What was wrong and what is allowed.
        error_code: An MLflow error-code name such as ``INVALID_PARAMETER_VALUE``.

    Example:
        >>> try:
        ...     raise InvalidParameterValue("bad key")
        ... except LiteTrackerException as e:
        ...     e.error_code
        'INVALID_PARAMETER_VALUE'
    """

    default_code = INTERNAL_ERROR

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code or self.default_code

    def get_http_status_code(self) -> int:
        """The HTTP status MLflow's server would answer with for this error."""
        return _HTTP_STATUS.get(self.error_code, 500)

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}"


MlflowException = LiteTrackerException


class InvalidParameterValue(LiteTrackerException, ValueError):
    """An argument broke a validation rule (key format, length, type, immutability)."""

    default_code = INVALID_PARAMETER_VALUE


class InvalidFilter(InvalidParameterValue):
    """A search filter or order_by clause could not be parsed; ``position`` is the 0-based offset."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        where = ""
        if position is not None:
            where = f" at position {position}"
            if text:
                where += f" in {text!r} (near {text[position:position + 20]!r})"
        super().__init__(message + where)
        self.text = text
        self.position = position


class ResourceNotFound(LiteTrackerException, LookupError):
    """The named experiment, run, model or artifact does not exist."""

    default_code = RESOURCE_DOES_NOT_EXIST


class ResourceAlreadyExists(LiteTrackerException):
    """A resource with that name or id exists already."""

    default_code = RESOURCE_ALREADY_EXISTS


class InvalidState(LiteTrackerException):
    """The operation does not fit the current state (for example logging to a deleted run)."""

    default_code = INVALID_STATE


class PermissionDenied(LiteTrackerException, PermissionError):
    """The change is refused here, for example by a server started read-only."""

    default_code = PERMISSION_DENIED


class LockTimeout(LiteTrackerException, TimeoutError):
    """A store lock could not be taken in time; nothing was changed."""

    default_code = TEMPORARILY_UNAVAILABLE


class StoreFormatError(LiteTrackerException):
    """The store on disk has a format this version cannot read (written by a newer lite_tracker)."""

    default_code = INVALID_STATE


class StoreError(LiteTrackerException):
    """The store's files cannot be used as they are; the message names the path and what to do."""

    default_code = INTERNAL_ERROR


class StoreCorrupt(StoreError):
    """The DuckDB file is damaged, truncated, not a DuckDB file, or missing beside its data."""

    default_code = INVALID_STATE


class StoreReadOnly(StoreError):
    """The store's folder or files cannot be written; reading still works."""

    default_code = PERMISSION_DENIED


class StoreBusy(StoreError, LockTimeout):
    """Another program holds the DuckDB file open read-write; the message says which one."""

    default_code = TEMPORARILY_UNAVAILABLE


class StoreFull(StoreError):
    """The disk holding the store is full (ENOSPC); nothing buffered was lost."""

    default_code = RESOURCE_EXHAUSTED


class SyncError(LiteTrackerException):
    """Pushing to or pulling from a shared bucket failed; the local store is unchanged.

    ``error_code`` is PERMISSION_DENIED when the credentials are refused, RESOURCE_DOES_NOT_EXIST when
    the bucket is missing, else TEMPORARILY_UNAVAILABLE (run the command again once the cause is fixed).
    """

    default_code = TEMPORARILY_UNAVAILABLE


class NotSupported(LiteTrackerException, AttributeError):
    """An MLflow name lite_tracker does not implement (``mlflow.tracing``, ``mlflow.genai``, ...).

    Also an ``AttributeError``, so ``hasattr(lite_tracker, "genai")`` is False, as for any missing name.

    Example:
        >>> try:
        ...     raise NotSupported("lite_tracker does not support mlflow.genai yet")
        ... except AttributeError as e:
        ...     e.error_code
        'NOT_IMPLEMENTED'
    """

    default_code = NOT_IMPLEMENTED
