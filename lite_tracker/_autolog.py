"""``lite_tracker.autolog()``: turn on autologging for every installed framework lite_tracker supports
(scikit-learn today), and say which installed frameworks MLflow would autolog that it does not."""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

# Import name -> MLflow's flavor name, for frameworks ``mlflow.autolog()`` covers that lite_tracker
# does not autolog yet.
UNSUPPORTED_FRAMEWORKS = {
    "tensorflow": "tensorflow", "keras": "keras", "torch": "pytorch", "lightning": "pytorch",
    "pytorch_lightning": "pytorch", "xgboost": "xgboost", "lightgbm": "lightgbm", "statsmodels": "statsmodels",
    "pyspark": "spark", "transformers": "transformers", "openai": "openai", "anthropic": "anthropic",
    "langchain": "langchain", "llama_index": "llama_index", "dspy": "dspy", "autogen": "autogen",
}


class AutologUnsupportedWarning(UserWarning):
    """An installed framework that ``mlflow.autolog()`` would log is not autologged by lite_tracker."""


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True, log_models: bool = True,
            log_datasets: bool = True, disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False,
            extra_tags: dict[str, Any] | None = None, exclude_flavors: list[str] | None = None) -> None:
    """Autolog every supported framework that is installed, as MLflow's ``mlflow.autolog()``.

    Today that is scikit-learn (see :func:`lite_tracker.sklearn.autolog`). Installed frameworks MLflow
    would also autolog (xgboost, lightgbm, pytorch, tensorflow, ...) are named in an
    :class:`AutologUnsupportedWarning` (unless ``silent``): their training is not logged by itself.

    Args:
        log_input_examples: Save the first rows of the training data with each model.
        log_model_signatures: Infer and save model signatures.
        log_models: Log fitted models.
        log_datasets: Record training data as dataset inputs.
        disable: Turn autologging off again.
        exclusive: Log only into runs autologging starts.
        disable_for_unsupported_versions: Skip frameworks older than lite_tracker supports.
        silent: No warnings.
        extra_tags: Tags of the runs autologging starts.
        exclude_flavors: Flavor names to leave alone (``["sklearn"]``).

    Example:
        >>> import lite_tracker as mlflow  # doctest: +SKIP
        >>> mlflow.autolog()  # doctest: +SKIP
    """
    excluded = set(exclude_flavors or ())
    if "sklearn" not in excluded and _installed("sklearn"):
        from . import sklearn

        sklearn.autolog(log_input_examples=log_input_examples, log_model_signatures=log_model_signatures,
                        log_models=log_models, log_datasets=log_datasets, disable=disable, exclusive=exclusive,
                        disable_for_unsupported_versions=disable_for_unsupported_versions, silent=silent,
                        extra_tags=extra_tags)
        supported = ["scikit-learn"]
    else:
        supported = []
    if disable or silent:
        return
    missing = sorted({flavor for module, flavor in UNSUPPORTED_FRAMEWORKS.items()
                      if flavor not in excluded and _installed(module)})
    if missing or not supported:
        on = f"turned on autologging for {', '.join(supported)}" if supported else "found no framework it supports"
        unsupported = (f"; installed but not supported yet: {', '.join(missing)} (log their params, metrics "
                       "and models with log_params, log_metrics and log_model)") if missing else ""
        warnings.warn(f"lite_tracker.autolog() {on}{unsupported}.", AutologUnsupportedWarning, stacklevel=2)
