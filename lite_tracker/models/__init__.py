"""Saved models (``mlflow.models``): the ``MLmodel`` descriptor, signatures and ``log_model`` results.

Flavors live in :mod:`lite_tracker.sklearn` and :mod:`lite_tracker.pyfunc`; serving in
:mod:`lite_tracker.serving`. Loading a model unpickles it, which runs code: load only models you trust.
"""

from .model import DependencyMismatchWarning, Model, ModelInfo, SignatureInferenceWarning
from .signature import ModelSignature, infer_signature

__all__ = [
    "DependencyMismatchWarning",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "SignatureInferenceWarning",
    "infer_signature",
]
