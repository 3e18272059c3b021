"""Datasets (MLflow's ``mlflow.data``): describe the data a run used, then record it with
``lite_tracker.log_input(dataset, context="training")``.

A dataset has a name, a digest computed as MLflow computes it (so the same data gets the same digest),
a source (a path, a URL, an object-store URI, or the running program), a schema and a profile.
Recorded inputs come back in ``run.inputs.dataset_inputs``, are searchable as ``datasets.name``,
``datasets.digest`` and ``datasets.context``, and ``sql()`` sees them in the ``dataset_inputs`` and
``dataset_input_tags`` views.

Example:
    >>> import lite_tracker as mlflow  # doctest: +SKIP
    >>> ds = mlflow.data.from_pandas(df, source="data/iris.csv", name="iris", targets="species")  # doctest: +SKIP
    >>> with mlflow.start_run():  # doctest: +SKIP
    ...     mlflow.log_input(ds, context="training")
"""

from __future__ import annotations

from typing import Any

from ..entities import Dataset as DatasetEntity
from ..entities import DatasetInput
from ..errors import InvalidParameterValue
from .dataset import Dataset, NumpyDataset, PandasDataset
from .sources import (
    CodeDatasetSource,
    DatasetSource,
    HTTPDatasetSource,
    LocalArtifactDatasetSource,
    URIDatasetSource,
    code_source,
    resolve_source,
    source_from_json,
)


def from_pandas(df: Any, source: str | DatasetSource | None = None, targets: str | None = None,
                name: str | None = None, digest: str | None = None, predictions: str | None = None
                ) -> PandasDataset:
    """A dataset of a pandas DataFrame.

    Args:
        df: The DataFrame.
        source: Where it came from: a path, a URL, an ``s3://``-style URI or a :class:`DatasetSource`;
            by default the running program.
        targets: The name of the column holding the labels.
        name: The dataset's name (default ``"dataset"``).
        digest: A fingerprint to use instead of computing one.
        predictions: The name of the column holding model predictions.

    Returns:
        A :class:`PandasDataset`.

    Raises:
        InvalidParameterValue: ``df`` is not a DataFrame, a named column is missing, or the source is unknown.

    Example:
        >>> from_pandas(pd.DataFrame({"x": [1.0]}), name="tiny").digest  # doctest: +SKIP
        'a1b2c3d4'
    """
    if not (hasattr(df, "columns") and hasattr(df, "dtypes") and hasattr(df, "head")):
        raise InvalidParameterValue(f"from_pandas needs a pandas DataFrame, got {type(df).__name__}.")
    resolved = code_source() if source is None else resolve_source(source)
    return PandasDataset(df, resolved, targets, name, digest, predictions)


def from_numpy(features: Any, source: str | DatasetSource | None = None, targets: Any = None,
               name: str | None = None, digest: str | None = None) -> NumpyDataset:
    """A dataset of NumPy arrays.

    Args:
        features: An array, or a dict of named arrays.
        source: Where it came from (as in :func:`from_pandas`); by default the running program.
        targets: An array (or dict of arrays) of labels.
        name: The dataset's name (default ``"dataset"``).
        digest: A fingerprint to use instead of computing one.

    Returns:
        A :class:`NumpyDataset`.

    Raises:
        InvalidParameterValue: ``features`` or ``targets`` is not an array or dict of arrays.

    Example:
        >>> from_numpy(np.zeros((3, 2)), targets=np.zeros(3)).profile["features_shape"]  # doctest: +SKIP
        [3, 2]
    """
    for what, value in (("features", features), ("targets", targets)):
        arrays = value.values() if isinstance(value, dict) else [value]
        if (value is not None or what == "features") and not all(
                hasattr(a, "shape") and hasattr(a, "flatten") for a in arrays):
            raise InvalidParameterValue(
                f"from_numpy {what} must be a NumPy array or a dict of arrays, got {type(value).__name__}.")
    resolved = code_source() if source is None else resolve_source(source)
    return NumpyDataset(features, resolved, targets, name, digest)


def get_source(dataset: Dataset | DatasetEntity | DatasetInput) -> DatasetSource:
    """The source of a dataset, or of a dataset read back from a run (``run.inputs.dataset_inputs``).

    Example:
        >>> get_source(run.inputs.dataset_inputs[0]).uri  # doctest: +SKIP
        'data/iris.csv'
    """
    if isinstance(dataset, DatasetInput):
        dataset = dataset.dataset
    if isinstance(dataset, Dataset):
        return dataset.source
    if isinstance(dataset, DatasetEntity):
        return source_from_json(dataset.source_type, dataset.source)
    raise InvalidParameterValue(f"get_source needs a dataset, got {type(dataset).__name__}.")


__all__ = [
    "CodeDatasetSource",
    "Dataset",
    "DatasetSource",
    "HTTPDatasetSource",
    "LocalArtifactDatasetSource",
    "NumpyDataset",
    "PandasDataset",
    "URIDatasetSource",
    "from_numpy",
    "from_pandas",
    "get_source",
]
