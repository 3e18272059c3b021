"""Model signatures: the column names and types (or tensor shape) a model takes and returns.

Stored in ``MLmodel`` as MLflow does: ``signature: {inputs: '<json>', outputs: '<json>', params: null}``
with column specs ``{"name": ..., "type": "double", "required": true}`` or tensor specs
``{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameterValue

_KIND_TYPES = {"b": "boolean", "U": "string", "S": "binary", "O": "string", "M": "datetime"}


def _column_type(dtype: Any) -> str:
    kind: str = getattr(dtype, "kind", "O")
    size = int(dtype.itemsize) if hasattr(dtype, "itemsize") else 8
    if kind == "f":
        return "float" if size == 4 else "double"
    if kind in "iu":
        return "integer" if size <= 4 and kind == "i" else "long"
    return _KIND_TYPES.get(kind, "string")


def _python_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, bytes):
        return "binary"
    return "string"


def _schema(data: Any) -> list[dict[str, Any]]:
    """A column or tensor schema describing ``data``."""
    if hasattr(data, "dtypes") and hasattr(data, "columns"):  # pandas DataFrame
        return [{"type": _column_type(t), "name": str(c), "required": True} for c, t in data.dtypes.items()]
    if hasattr(data, "dtype") and hasattr(data, "name") and hasattr(data, "to_numpy"):  # pandas Series
        return [{"type": _column_type(data.dtype), "required": True}]
    if hasattr(data, "dtype") and hasattr(data, "shape"):  # numpy array
        return [{"type": "tensor", "tensor-spec": {"dtype": str(data.dtype), "shape": [-1, *data.shape[1:]]}}]
    if isinstance(data, dict) and data:
        return [{"type": _python_type(_first(v)), "name": str(k), "required": True} for k, v in data.items()]
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return [{"type": _python_type(val), "name": str(k), "required": True} for k, val in data[0].items()]
    if isinstance(data, list) and data:
        import numpy as np

        return _schema(np.asarray(data))
    if isinstance(data, (str, int, float, bool, bytes)):
        return [{"type": _python_type(data), "required": True}]
    raise InvalidParameterValue(
        f"Cannot infer a signature from {type(data).__name__}: give a pandas DataFrame, numpy array, dict of "
        "columns or list of records."
    )


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and value:
        return value[0]
    if hasattr(value, "dtype") and hasattr(value, "size") and value.size:
        return value.reshape(-1)[0].item()
    return value


@dataclass(frozen=True)
class ModelSignature:
    """Input and output schemas of a model (lists of column or tensor specs), as MLflow's.

    Example:
        >>> sig = ModelSignature([{"name": "x", "type": "double", "required": True}])
        >>> sig.input_names()
        ['x']
    """

    inputs: list[dict[str, Any]] | None = None
    outputs: list[dict[str, Any]] | None = None
    params: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The ``MLmodel`` form: each schema as a JSON string."""
        return {k: (json.dumps(val) if val is not None else None)
                for k, val in (("inputs", self.inputs), ("outputs", self.outputs), ("params", self.params))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSignature:
        """Read the ``MLmodel`` form (JSON strings or already-parsed lists)."""
        def load(val: Any) -> list[dict[str, Any]] | None:
            return json.loads(val) if isinstance(val, str) else val  # type: ignore[no-any-return]

        return cls(load(d.get("inputs")), load(d.get("outputs")), load(d.get("params")))

    def input_names(self) -> list[str]:
        """Names of the input columns ([] for a tensor signature)."""
        return [c["name"] for c in self.inputs or () if "name" in c]

    def is_tensor(self) -> bool:
        """Whether the inputs are one tensor (a numpy array) rather than named columns."""
        return bool(self.inputs) and all(c.get("type") == "tensor" for c in self.inputs or ())


def infer_signature(model_input: Any = None, model_output: Any = None) -> ModelSignature:
    """Infer a signature from example input and (optionally) output, like ``mlflow.models.infer_signature``.

    Args:
        model_input: A pandas DataFrame, numpy array, dict of columns or list of records.
        model_output: What the model returns for it (same kinds, or a Series/list).

    Returns:
        The signature.

    Example:
        >>> infer_signature({"x": [1.0, 2.0]}).inputs
        [{'type': 'double', 'name': 'x', 'required': True}]
    """
    return ModelSignature(
        _schema(model_input) if model_input is not None else None,
        _schema(model_output) if model_output is not None else None,
    )


def coerce_signature(signature: Any) -> ModelSignature | None:
    """Accept a :class:`ModelSignature`, an MLflow ``ModelSignature`` or its ``to_dict()`` form."""
    if signature is None or isinstance(signature, ModelSignature):
        return signature
    if isinstance(signature, dict):
        return ModelSignature.from_dict(signature)
    if hasattr(signature, "to_dict"):
        return ModelSignature.from_dict(signature.to_dict())
    raise InvalidParameterValue(f"signature must be a ModelSignature or a dict, got {type(signature).__name__}.")
