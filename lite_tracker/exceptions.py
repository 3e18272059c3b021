"""MLflow's import path for its exception: ``from lite_tracker.exceptions import MlflowException``."""

from .errors import (
    InvalidParameterValue,
    LiteTrackerException,
    MlflowException,
    NotSupported,
    ResourceAlreadyExists,
    ResourceNotFound,
)

__all__ = [
    "InvalidParameterValue",
    "LiteTrackerException",
    "MlflowException",
    "NotSupported",
    "ResourceAlreadyExists",
    "ResourceNotFound",
]
