"""Input validation with MLflow's rules (``mlflow/utils/validation.py``); every failure is an
:class:`~lite_tracker.errors.InvalidParameterValue` naming the offending item and the rule."""

from __future__ import annotations

import json
import numbers
import operator
import posixpath
import re
from typing import Any

from .errors import InvalidParameterValue

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 5000

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")
_KEY_RULE = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), "
    "colons (:) and slashes (/), may not be empty, '.', start with '/' or '..', or contain '//', "
    f"and may be at most {MAX_KEY_LENGTH} characters long"
)

# Keys seen valid before: the hot logging path checks a set instead of a regex.
known_keys: set[str] = set()


def invalid_value(path: str, value: Any, rule: str) -> InvalidParameterValue:
    """MLflow's message for a bad value: ``Invalid value <json> for parameter '<path>' supplied: <rule>``
    (users and MLflow's tests match on its start)."""
    try:
        shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = repr(value)
    return InvalidParameterValue(f"Invalid value {shown} for parameter '{path}' supplied: {rule}")


def validate_key(key: Any, kind: str, path: str | None = None) -> str:
    """Check a metric, param or tag name; return it. ``path`` names it in the error (MLflow's
    ``metrics[0].name``; by default ``name`` for a metric, ``key`` otherwise).

    Example:
        >>> validate_key("train/loss", "metric")
        'train/loss'
    """
    if type(key) is str and key in known_keys:  # an unhashable key must reach the type check below
        return key
    where = path or ("name" if kind == "metric" else "key")
    if key is None:
        raise invalid_value(where, key, f"{kind.capitalize()} name cannot be None. A key name must be provided.")
    if not isinstance(key, str):
        raise invalid_value(where, key, f"Invalid {kind} name: it is a {type(key).__name__}, not a string.")
    norm = posixpath.normpath(key)
    if (len(key) > MAX_KEY_LENGTH or not _KEY_RE.match(key) or norm != key or norm == "."
            or norm.startswith("..") or norm.startswith("/")):
        raise invalid_value(where, key, f"Invalid {kind} name. {_KEY_RULE}.")
    if len(known_keys) < 100_000:
        known_keys.add(key)
    return key


def validate_metric_value(key: str, value: Any, path: str = "value") -> float:
    """Return ``value`` as a float; numbers only (bool and None are rejected), NaN and +-inf kept."""
    if type(value) is float:
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError) as e:
            raise invalid_value(path, repr(value), f"metric '{key}': it cannot be converted to a 64-bit float.") from e
    raise invalid_value(
        path, value if isinstance(value, (str, bool)) or value is None else repr(value),
        f"metric '{key}'. Please specify value as a valid double (64-bit floating point); "
        "NaN and +-inf are allowed, bool and None are not.",
    )


def validate_int(value: Any, what: str, key: str, minimum: int | None = None, path: str | None = None) -> int:
    """Return an integer step or timestamp; bool, float and str are rejected. ``path`` names it in the
    error (default ``what``)."""
    where = path or what
    if type(value) is not int:
        if isinstance(value, bool) or isinstance(value, float):
            raise invalid_value(where, value, f"metric '{key}': the {what} must be an integer.")
        try:
            value = operator.index(value)
        except TypeError as e:
            raise invalid_value(where, value if isinstance(value, str) else repr(value),
                                f"metric '{key}': the {what} must be an integer.") from e
    if minimum is not None and value < minimum:
        raise invalid_value(where, value, f"metric '{key}': the {what} must be >= {minimum}.")
    if not -(2**63) <= value < 2**63:
        raise invalid_value(where, repr(value), f"metric '{key}': the {what} must fit in 64 bits.")
    return int(value)


def validate_step(step: Any, key: str) -> int:
    """A metric step: None means 0; otherwise a 64-bit integer."""
    if step is None:
        return 0
    if type(step) is int and -(2**63) <= step < 2**63:
        return step
    return validate_int(step, "step", key)


def validate_param(key: Any, value: Any, path: str | None = None) -> tuple[str, str]:
    """Check a param; values are stored as ``str(value)`` of at most 6000 characters."""
    key = validate_key(key, "param", path)
    text = str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidParameterValue(
            f"Param value for key {key!r} is {len(text)} characters long; "
            f"the limit is {MAX_PARAM_VALUE_LENGTH}."
        )
    return key, text


def validate_tag(key: Any, value: Any, limit: int = MAX_TAG_VALUE_LENGTH, path: str | None = None
                 ) -> tuple[str, str]:
    """Check a tag; values are stored as ``str(value)`` of at most ``limit`` characters."""
    key = validate_key(key, "tag", path)
    text = str(value)
    if len(text) > limit:
        raise InvalidParameterValue(
            f"Tag value for key {key!r} is {len(text)} characters long; the limit is {limit}."
        )
    return key, text


def validate_run_id(run_id: Any) -> str:
    """Check the format of a run id (MLflow's regex)."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidParameterValue(
            f"Invalid run ID: {run_id!r}. A run ID starts with a letter or digit and has at most 256 "
            "letters, digits, '_' or '-'."
        )
    return run_id


def validate_experiment_id(experiment_id: Any) -> str:
    """Check the format of an experiment id (MLflow's regex); ints are accepted and converted."""
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID_RE.match(experiment_id):
        raise InvalidParameterValue(
            f"Invalid experiment ID: {experiment_id!r}. An experiment ID starts with a letter or digit "
            "and has at most 64 letters, digits, '_' or '-'."
        )
    return experiment_id


def validate_experiment_id_type(experiment_id: Any) -> None:
    """Refuse an experiment id that is neither a string, an int nor None, with MLflow's message."""
    if experiment_id is not None and (isinstance(experiment_id, bool) or not isinstance(experiment_id, (str, int))):
        raise InvalidParameterValue(
            f"Invalid experiment id: {experiment_id} of type {type(experiment_id)}. "
            "Must be one of str, int, or None."
        )


def validate_experiment_name(name: Any) -> str:
    """Check an experiment name: a non-empty string of at most 500 characters (MLflow's messages)."""
    if name is None or (isinstance(name, str) and not name.strip()):
        raise InvalidParameterValue(f"Invalid experiment name: '{name}'. It must be a non-empty string.")
    if not isinstance(name, str):
        raise InvalidParameterValue(f"Invalid experiment name: {name}. Expects a string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Experiment name is {len(name)} characters long; the limit is {MAX_EXPERIMENT_NAME_LENGTH}."
        )
    return name



# Dataset inputs (MLflow's limits for ``log_inputs``).
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500


def validate_dataset_field(what: str, value: Any, limit: int, required: bool = True) -> str | None:
    """Check one text field of a dataset input (name, digest, source, schema, profile, tag); return it.

    Example:
        >>> validate_dataset_field("name", "iris", MAX_DATASET_NAME_SIZE)
        'iris'
    """
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise InvalidParameterValue(f"Dataset input {what} must be a non-empty string, got {value!r}.")
    if len(value) > limit:
        raise InvalidParameterValue(
            f"Dataset input {what} is {len(value)} characters long; the limit is {limit}.")
    return value
