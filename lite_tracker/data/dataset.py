"""Datasets as MLflow's ``mlflow.data`` builds them: a name, a digest, a source, a schema and a profile,
turned into the :class:`~lite_tracker.entities.Dataset` entity that ``log_input`` records."""

from __future__ import annotations

import abc
import json
from typing import Any

from ..entities import Dataset as DatasetEntity
from ..errors import InvalidParameterValue
from ..models.signature import _schema
from .digest import numpy_digest, pandas_digest
from .sources import DatasetSource


class Dataset(abc.ABC):
    """A dataset: where it came from (``source``), its ``name`` (default ``"dataset"``) and ``digest``.

    Subclasses say how to compute the digest, ``schema`` and ``profile``.
    """

    def __init__(self, source: DatasetSource, name: str | None = None, digest: str | None = None) -> None:
        self._source = source
        self._name = name
        self._digest = digest or self._compute_digest()

    @abc.abstractmethod
    def _compute_digest(self) -> str:
        """The digest of the data, when none was given."""

    @property
    def name(self) -> str:
        """The dataset's name (``"dataset"`` when none was given, as in MLflow)."""
        return self._name if self._name is not None else "dataset"

    @property
    def digest(self) -> str:
        """A short fingerprint of the data (8 hex characters, as MLflow computes it)."""
        return self._digest

    @property
    def source(self) -> DatasetSource:
        """Where the data came from."""
        return self._source

    @property
    def profile(self) -> dict[str, Any] | None:
        """Summary numbers of the data (row counts, shapes)."""
        return None

    def _schema_json(self) -> str | None:
        return None

    def to_dict(self) -> dict[str, str | None]:
        """Name, digest, source (JSON), source type, schema (JSON) and profile (JSON), as MLflow's."""
        profile = self.profile
        return {
            "name": self.name,
            "digest": self.digest,
            "source": self._source.to_json(),
            "source_type": self._source._get_source_type(),
            "schema": self._schema_json(),
            "profile": json.dumps(profile) if profile is not None else None,
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON."""
        return json.dumps(self.to_dict())

    def _to_mlflow_entity(self) -> DatasetEntity:
        """The entity recorded by ``log_input``."""
        d = self.to_dict()
        return DatasetEntity(str(d["name"]), str(d["digest"]), str(d["source_type"]), str(d["source"]),
                             d["schema"], d["profile"])

    def __repr__(self) -> str:
        kind = self._source.source_type
        return f"<{type(self).__name__} name={self.name!r} digest={self.digest!r} source_type={kind!r}>"


class PandasDataset(Dataset):
    """A pandas DataFrame (``from_pandas``); ``targets`` and ``predictions`` name columns of it."""

    def __init__(self, df: Any, source: DatasetSource, targets: str | None = None, name: str | None = None,
                 digest: str | None = None, predictions: str | None = None) -> None:
        for what, column in (("targets", targets), ("predictions", predictions)):
            if column is not None and column not in df.columns:
                raise InvalidParameterValue(
                    f"The specified pandas DataFrame does not contain the specified {what} column '{column}'.")
        self._df = df
        self._targets = targets
        self._predictions = predictions
        super().__init__(source, name, digest)

    def _compute_digest(self) -> str:
        return pandas_digest(self._df)

    @property
    def df(self) -> Any:
        """The DataFrame."""
        return self._df

    @property
    def targets(self) -> str | None:
        """The name of the targets column, if any."""
        return self._targets

    @property
    def predictions(self) -> str | None:
        """The name of the predictions column, if any."""
        return self._predictions

    @property
    def schema(self) -> list[dict[str, Any]]:
        """Column specs (``{"type": "double", "name": "x", "required": True}``), as in model signatures."""
        return _schema(self._df)

    @property
    def profile(self) -> dict[str, Any]:
        """``num_rows`` and ``num_elements``."""
        return {"num_rows": len(self._df), "num_elements": int(self._df.size)}

    def _schema_json(self) -> str:
        return json.dumps({"mlflow_colspec": self.schema})


class NumpyDataset(Dataset):
    """NumPy features (an array or a dict of named arrays) and optional targets (``from_numpy``)."""

    def __init__(self, features: Any, source: DatasetSource, targets: Any = None, name: str | None = None,
                 digest: str | None = None) -> None:
        self._features = features
        self._targets = targets
        super().__init__(source, name, digest)

    def _compute_digest(self) -> str:
        return numpy_digest(self._features, self._targets)

    @property
    def features(self) -> Any:
        """The features."""
        return self._features

    @property
    def targets(self) -> Any:
        """The targets, if any."""
        return self._targets

    @property
    def schema(self) -> dict[str, Any]:
        """Tensor specs of ``features`` and ``targets`` (None without targets)."""
        return {"features": _tensor_schema(self._features),
                "targets": _tensor_schema(self._targets) if self._targets is not None else None}

    @property
    def profile(self) -> dict[str, Any]:
        """Shape, size and bytes of the features (and targets), as MLflow's."""
        out: dict[str, Any] = {}
        for prefix, value in (("features", self._features), ("targets", self._targets)):
            if value is None:
                continue
            if isinstance(value, dict):
                out[f"{prefix}_shape"] = {k: list(a.shape) for k, a in value.items()}
                out[f"{prefix}_size"] = {k: int(a.size) for k, a in value.items()}
                out[f"{prefix}_nbytes"] = {k: int(a.nbytes) for k, a in value.items()}
            else:
                out[f"{prefix}_shape"] = list(value.shape)
                out[f"{prefix}_size"] = int(value.size)
                out[f"{prefix}_nbytes"] = int(value.nbytes)
        return out

    def _schema_json(self) -> str:
        schema = self.schema
        return json.dumps({"mlflow_tensorspec": {
            "features": json.dumps(schema["features"]),
            "targets": json.dumps(schema["targets"]) if schema["targets"] is not None else None,
        }})


def _tensor_schema(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [{**_schema(a)[0], "name": str(k)} for k, a in value.items()]
    return _schema(value)
