"""The MLmodel folder format shared by every flavor: writing, logging, finding and loading a model.

A model is a folder (usually in a run's artifacts) holding::

    MLmodel              descriptor: flavors, library and Python versions, signature, run id, time
    model.pkl            the serialized model (cloudpickle if installed, else pickle)
    requirements.txt     pip requirements to recreate the environment
    input_example.json   the example input as a scoring-server payload, when one was given

``MLmodel`` is YAML when PyYAML is installed, else JSON (which is also valid YAML), as MLflow reads it.

Loading a model unpickles it, which runs code chosen by whoever wrote the file: load only models you
trust.
"""

from __future__ import annotations

import importlib
import json
import pickle
import platform
import tempfile
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..errors import InvalidParameterValue, LiteTrackerException, ResourceNotFound
from .signature import ModelSignature, coerce_signature, infer_signature

MLMODEL = "MLmodel"
MODEL_FILE = "model.pkl"
REQUIREMENTS_FILE = "requirements.txt"
INPUT_EXAMPLE_FILE = "input_example.json"
PYFUNC = "python_function"

# Loader modules a python_function flavor may name (MLflow's own sklearn format loads here too).
_LOADERS = {
    "lite_tracker.sklearn": "lite_tracker.sklearn",
    "mlflow.sklearn": "lite_tracker.sklearn",
    "lite_tracker.pyfunc": "lite_tracker.pyfunc",
}


class DependencyMismatchWarning(UserWarning):
    """A model is loaded with library (or Python) versions other than those it was saved with."""


class SignatureInferenceWarning(UserWarning):
    """The output signature could not be inferred by running the model on the input example."""


class Predictor(Protocol):
    """Anything with ``predict(data)``."""

    def predict(self, data: Any) -> Any: ...


def _lite_tracker_version() -> str:
    from .._version import __version__

    return __version__


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text of ``data`` (PyYAML if importable, else JSON, which YAML readers accept)."""
    try:
        import yaml
    except ImportError:
        return json.dumps(data, indent=2) + "\n"
    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def load_yaml(text: str) -> dict[str, Any]:
    """Parse an ``MLmodel`` file written by :func:`dump_yaml` (or by MLflow, if PyYAML is installed)."""
    try:
        import yaml
    except ImportError:
        try:
            return json.loads(text)  # type: ignore[no-any-return]
        except ValueError as e:
            raise InvalidParameterValue(
                "This MLmodel file is YAML; reading it needs PyYAML (`pip install pyyaml`)."
            ) from e
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InvalidParameterValue("The MLmodel file does not hold a mapping.")
    return data


@dataclass
class Model:
    """The ``MLmodel`` descriptor of a saved model, as MLflow's ``mlflow.models.Model``.

    Example:
        >>> m = Model(artifact_path="model")
        >>> m.add_flavor("python_function", loader_module="lite_tracker.sklearn").flavors
        {'python_function': {'loader_module': 'lite_tracker.sklearn'}}
    """

    artifact_path: str | None = None
    run_id: str | None = None
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    utc_time_created: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"))
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    metadata: dict[str, Any] | None = None
    lite_tracker_version: str = field(default_factory=_lite_tracker_version)

    def add_flavor(self, name: str, **params: Any) -> Model:
        """Record a flavor and its loading parameters; returns ``self``."""
        self.flavors[name] = params
        return self

    def to_dict(self) -> dict[str, Any]:
        """The ``MLmodel`` content."""
        out: dict[str, Any] = {
            "artifact_path": self.artifact_path,
            "flavors": self.flavors,
            "lite_tracker_version": self.lite_tracker_version,
            "model_uuid": self.model_uuid,
            "run_id": self.run_id,
            "utc_time_created": self.utc_time_created,
        }
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out

    def save(self, path: str | Path) -> None:
        """Write ``MLmodel`` into the folder ``path``."""
        (Path(path) / MLMODEL).write_text(dump_yaml(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read ``MLmodel`` from a model folder (or the file itself)."""
        p = Path(path)
        p = p / MLMODEL if p.is_dir() else p
        if not p.is_file():
            raise ResourceNotFound(f"No {MLMODEL} file at {str(p)!r}: this is not a saved model folder.")
        d = load_yaml(p.read_text())
        sig = d.get("signature")
        return cls(
            artifact_path=d.get("artifact_path"), run_id=d.get("run_id"), flavors=dict(d.get("flavors") or {}),
            signature=ModelSignature.from_dict(sig) if sig else None,
            saved_input_example_info=d.get("saved_input_example_info"),
            utc_time_created=str(d.get("utc_time_created", "")), model_uuid=str(d.get("model_uuid", "")),
            metadata=d.get("metadata"),
            lite_tracker_version=str(d.get("lite_tracker_version") or d.get("mlflow_version") or ""),
        )


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns, as MLflow's ``ModelInfo``.

    ``model_uri`` (``runs:/<run_id>/<artifact_path>``) loads the model back;
    ``registered_model_version`` is set when ``registered_model_name`` was given.
    """

    artifact_path: str
    flavors: dict[str, dict[str, Any]]
    model_uri: str
    model_uuid: str
    run_id: str
    signature: ModelSignature | None
    utc_time_created: str
    registered_model_version: int | None = None
    metadata: dict[str, Any] | None = None


# ---------------------------------------------------------------- serialization

def pickle_dump(obj: Any, path: Path, serialization_format: str | None = None) -> str:
    """Pickle ``obj`` to ``path`` with cloudpickle when installed (else pickle); return the format used."""
    fmt = serialization_format or ("cloudpickle" if _importable("cloudpickle") else "pickle")
    if fmt not in ("cloudpickle", "pickle"):
        raise InvalidParameterValue(f"Unknown serialization_format {fmt!r}: use 'cloudpickle' or 'pickle'.")
    dumper: Any = importlib.import_module(fmt)
    with open(path, "wb") as f:
        dumper.dump(obj, f)
    return fmt


def pickle_load(path: Path) -> Any:
    """Unpickle a model file. This runs code from the file: only load models you trust."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f)  # noqa: S301 - documented: models are code; load only trusted ones
    except ModuleNotFoundError as e:
        raise LiteTrackerException(
            f"Loading {path.name} needs the module {e.name!r}, which is not installed; install the packages "
            f"listed in the model's {REQUIREMENTS_FILE}.", "INVALID_STATE"
        ) from e


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


def library_version(module: str) -> str | None:
    """``module.__version__`` if the module is installed, else None."""
    try:
        return str(importlib.import_module(module).__version__)
    except (ImportError, AttributeError):
        return None


def python_version() -> str:
    """The running Python's version, e.g. ``3.11.2``."""
    return platform.python_version()


# ---------------------------------------------------------------- input examples

def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def example_payload(example: Any) -> tuple[dict[str, Any], str]:
    """An input example as a scoring-server JSON payload, and its kind."""
    if hasattr(example, "columns") and hasattr(example, "to_dict"):
        split = example.to_dict(orient="split")
        return {"dataframe_split": {"columns": [str(c) for c in split["columns"]],
                                    "data": _jsonable(split["data"])}}, "dataframe"
    if hasattr(example, "shape") and hasattr(example, "dtype"):
        return {"inputs": _jsonable(example)}, "ndarray"
    if isinstance(example, (dict, list)):
        return {"inputs": _jsonable(example)}, "json_object"
    raise InvalidParameterValue(
        f"Unsupported input_example of type {type(example).__name__}: give a pandas DataFrame, numpy array, "
        "dict or list."
    )


# ---------------------------------------------------------------- writing a model folder

def write_model_dir(
    path: Path,
    flavor: str,
    flavor_conf: dict[str, Any],
    pyfunc_conf: dict[str, Any],
    predictor: Predictor | None,
    signature: Any = None,
    input_example: Any = None,
    requirements: list[str] | None = None,
    extra_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Model:
    """Write ``MLmodel``, ``requirements.txt`` and ``input_example.json`` into ``path`` (whose model
    file the flavor has written already). ``predictor`` runs on the input example to infer outputs."""
    sig = coerce_signature(signature)
    model = Model(metadata=metadata)
    if input_example is not None:
        payload, kind = example_payload(input_example)
        (path / INPUT_EXAMPLE_FILE).write_text(json.dumps(payload))
        model.saved_input_example_info = {"artifact_path": INPUT_EXAMPLE_FILE, "type": kind}
        if sig is None:
            output = None
            if predictor is not None:
                try:
                    output = predictor.predict(input_example)
                except Exception as e:  # any model error: keep the input signature, say why outputs are missing
                    warnings.warn(f"Could not infer the output signature: predicting on input_example failed: {e}",
                                  SignatureInferenceWarning, stacklevel=3)
            sig = infer_signature(input_example, output)
    model.signature = sig
    model.add_flavor(PYFUNC, **pyfunc_conf, python_version=python_version())
    model.add_flavor(flavor, **flavor_conf)
    reqs = requirements if requirements is not None else [f"lite-tracker=={_lite_tracker_version()}"]
    (path / REQUIREMENTS_FILE).write_text("\n".join([*reqs, *(extra_requirements or [])]) + "\n")
    model.save(path)
    return model


def _client() -> Any:
    from ..tracking.fluent import _client as fluent_client

    return fluent_client()


def log_model_dir(save: Callable[[Path], Model], artifact_path: str | None, name: str | None,
                  registered_model_name: str | None) -> ModelInfo:
    """Save a model with ``save(folder)`` into the active run's artifacts (starting a run if none is
    active) and optionally register it; shared by every flavor's ``log_model``."""
    from ..store.artifacts import check_artifact_path
    from ..tracking.fluent import _run_id, register_model

    if artifact_path is not None and name is not None and artifact_path != name:
        raise InvalidParameterValue(f"Give either artifact_path or name, not both ({artifact_path!r} != {name!r}).")
    rel = check_artifact_path(artifact_path or name or "model")
    if not rel:
        raise InvalidParameterValue("The model needs a non-empty artifact path, e.g. 'model'.")
    run_id = _run_id()
    with tempfile.TemporaryDirectory(prefix="lite_tracker-model-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        model = save(folder)
        model.artifact_path, model.run_id = rel, run_id
        model.save(folder)
        _client().log_artifacts(run_id, folder, rel)
    uri = f"runs:/{run_id}/{rel}"
    version = register_model(uri, registered_model_name).version if registered_model_name else None
    return ModelInfo(rel, model.flavors, uri, model.model_uuid, run_id, model.signature, model.utc_time_created,
                     version, model.metadata)


# ---------------------------------------------------------------- finding and loading

def local_model_dir(model_uri: str | Path, dst_path: str | Path | None = None) -> Path:
    """A local folder holding the model that ``model_uri`` names.

    A model in a local artifact folder is used in place unless ``dst_path`` is given; otherwise it is
    downloaded (copied) into ``dst_path`` or a new temp folder.
    """
    from ..registry.uri import resolve
    from ..store.artifacts import ArtifactRepository

    text = str(model_uri)
    location = resolve(_client(), text)[0] if text.startswith(("runs:/", "models:/")) else text
    local = location.removeprefix("file://") if "://" not in location or location.startswith("file://") else None
    if local is not None and not Path(local).exists():
        raise ResourceNotFound(f"No model at {local!r} (from {text!r}).")
    if local is not None and dst_path is None:
        return Path(local)
    parent = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="lite_tracker-model-"))
    return Path(ArtifactRepository(location).download_artifacts("", parent))


def check_dependencies(model: Model, flavor: str) -> None:
    """Warn (:class:`DependencyMismatchWarning`) when the running Python or a library recorded in the
    flavor differs from what the model was saved with."""
    conf = model.flavors.get(flavor, {})
    py = model.flavors.get(PYFUNC, {}).get("python_version")
    if py and str(py).split(".")[:2] != python_version().split(".")[:2]:
        warnings.warn(f"The model was saved with Python {py}; this is Python {python_version()}. "
                      "Loading may fail or behave differently.", DependencyMismatchWarning, stacklevel=3)
    for key, saved in conf.items():
        if not key.endswith("_version") or saved is None:
            continue
        module = key[: -len("_version")]
        current = library_version(module)
        if current is not None and str(saved) != current:
            warnings.warn(
                f"The model was saved with {module} {saved}; {current} is installed. Predictions may differ "
                f"or loading may fail: install {module}=={saved} (see the model's {REQUIREMENTS_FILE}).",
                DependencyMismatchWarning, stacklevel=3,
            )


def load_pyfunc_impl(path: Path, model: Model) -> Predictor:
    """The python_function implementation of a model folder, through its allowlisted loader module."""
    conf = model.flavors.get(PYFUNC)
    if conf is None:
        raise InvalidParameterValue(
            f"The model has no {PYFUNC} flavor (flavors: {', '.join(model.flavors) or 'none'}); "
            "load it with its own flavor's load_model."
        )
    loader = _LOADERS.get(str(conf.get("loader_module")))
    if loader is None:
        raise InvalidParameterValue(
            f"Unsupported loader module {conf.get('loader_module')!r}; supported: {', '.join(sorted(_LOADERS))}."
        )
    module = importlib.import_module(loader)
    impl: Predictor = module._load_pyfunc(path, model)
    return impl

