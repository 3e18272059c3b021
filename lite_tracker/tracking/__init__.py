"""MLflow's import path for the client: ``from lite_tracker.tracking import MlflowClient``."""

from .client import MlflowClient

__all__ = ["MlflowClient"]
